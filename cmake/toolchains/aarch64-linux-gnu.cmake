# Cross-compiling lanmsff for 64-bit ARM Linux with Debian's g++-aarch64-linux-gnu, the tests run
# under qemu-user (qemu-user-static) through CMAKE_CROSSCOMPILING_EMULATOR, so `ctest` works as on
# the host. Needs the arm64 zlib (dpkg --add-architecture arm64; apt-get install zlib1g-dev:arm64);
# Eigen, nlohmann-json, stb and doctest are header-only and come from the host's packages.
#   cmake -S . -B build-aarch64 -DCMAKE_TOOLCHAIN_FILE=cmake/toolchains/aarch64-linux-gnu.cmake
set(CMAKE_SYSTEM_NAME Linux)
set(CMAKE_SYSTEM_PROCESSOR aarch64)
set(CMAKE_C_COMPILER aarch64-linux-gnu-gcc)
set(CMAKE_CXX_COMPILER aarch64-linux-gnu-g++)
set(CMAKE_LIBRARY_ARCHITECTURE aarch64-linux-gnu)

# Programs are linked statically: qemu-user 7.2 (Debian 12) never returns from a thread join in a
# dynamically linked aarch64 program run against the cross sysroot (a two-thread std::thread or
# OpenMP program hangs), while the same program linked statically runs. Each link then prints the
# linker's note that libgomp.a's OpenACC profiling hook calls dlopen, which a static program can only
# do with this glibc's shared libraries at run time: expected, and harmless (the hook runs only when
# ACC_PROFILE_LIB names a library to load).
set(CMAKE_EXE_LINKER_FLAGS_INIT "-static")
set(ZLIB_USE_STATIC_LIBS ON)
execute_process(COMMAND "${CMAKE_CXX_COMPILER}" -print-file-name=libgomp.a OUTPUT_VARIABLE OpenMP_gomp_LIBRARY
                OUTPUT_STRIP_TRAILING_WHITESPACE)
# GCC's note that the passing of std::pair<double, double> changed in GCC 10 (an ABI note about
# other compilers' objects; everything here is built by this one).
set(CMAKE_CXX_FLAGS_INIT "-Wno-psabi")

find_program(LANMSFF_QEMU_AARCH64 NAMES qemu-aarch64-static qemu-aarch64)
if(LANMSFF_QEMU_AARCH64)
  set(CMAKE_CROSSCOMPILING_EMULATOR "${LANMSFF_QEMU_AARCH64};-L;/usr/aarch64-linux-gnu")
endif()

# Libraries and headers of the target first (the cross sysroot, the arm64 multiarch directories),
# the host's header-only packages and CMake package files too; programs from the host.
set(CMAKE_FIND_ROOT_PATH /usr/aarch64-linux-gnu)
set(CMAKE_FIND_ROOT_PATH_MODE_PROGRAM NEVER)
set(CMAKE_FIND_ROOT_PATH_MODE_LIBRARY BOTH)
set(CMAKE_FIND_ROOT_PATH_MODE_INCLUDE BOTH)
set(CMAKE_FIND_ROOT_PATH_MODE_PACKAGE BOTH)
