# Drives one packaging check (cmake -P). MODE selects what a user would do:
#   install       cmake --install the current build tree into a fresh prefix, then build
#                 tests/install/consumer with find_package(lanmsff) and, when pkg-config exists,
#                 compile the same program with `pkg-config --cflags --libs lanmsff`; with WITH_FACES,
#                 also tests/install/faces_consumer with find_package(lanmsff COMPONENTS faces);
#   subdirectory  build tests/install/subproject_consumer, which add_subdirectory()s the sources and
#                 links lanmsff::kernels (the kernels compiled once, a static library of the subproject);
#   fetchcontent  the same through FetchContent, linking the header-only lanmsff::lanmsff.
# Each then runs the consumer and checks that it prints the version, the tensor sums 18 and how its kernels
# were compiled.
cmake_minimum_required(VERSION 3.25)

foreach(var MODE WORK_DIR LANMSFF_SOURCE_DIR LANMSFF_BUILD_DIR EXPECTED_VERSION GENERATOR CXX_COMPILER)
  if(NOT DEFINED ${var} OR "${${var}}" STREQUAL "")
    message(FATAL_ERROR "run_consumer.cmake: -D${var}=... is required")
  endif()
endforeach()
set(consumer_sources "${CMAKE_CURRENT_LIST_DIR}/consumer")
if(NOT CONFIG)
  set(CONFIG Release)
endif()

function(run)
  execute_process(COMMAND ${ARGN} RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE out)
  if(NOT rc EQUAL 0)
    string(REPLACE ";" " " cmd "${ARGN}")
    message(FATAL_ERROR "command failed (${rc}): ${cmd}\n${out}")
  endif()
  set(run_output "${out}" PARENT_SCOPE)
endfunction()

function(check_consumer_output exe)
  run("${exe}")
  message(STATUS "${exe} printed:\n${run_output}")
  if(NOT run_output MATCHES "lanmsff ${EXPECTED_VERSION}\n")
    message(FATAL_ERROR "expected 'lanmsff ${EXPECTED_VERSION}' in the consumer's output")
  endif()
  if(NOT run_output MATCHES "\nsum 18\nrelu sum 18\n")
    message(FATAL_ERROR "expected 'sum 18' and 'relu sum 18' in the consumer's output")
  endif()
  set(kernels "kernels header-only")
  if(MODE STREQUAL "subdirectory")
    set(kernels "kernels compiled once")  # it links lanmsff::kernels
  endif()
  if(NOT run_output MATCHES "${kernels}\n")
    message(FATAL_ERROR "expected '${kernels}' in the consumer's output")
  endif()
endfunction()

file(REMOVE_RECURSE "${WORK_DIR}")
file(MAKE_DIRECTORY "${WORK_DIR}")
set(consumer_build "${WORK_DIR}/build")
# Dependencies are found where the library's own configuration found them.
set(common_args -G "${GENERATOR}" "-DCMAKE_CXX_COMPILER=${CXX_COMPILER}" "-DCMAKE_BUILD_TYPE=${CONFIG}")
foreach(var Eigen3_DIR nlohmann_json_DIR STB_INCLUDE_DIR)
  if(${var})
    list(APPEND common_args "-D${var}=${${var}}")
  endif()
endforeach()
if(CXX_COMPILER_LAUNCHER)  # the tested build's compiler cache (ccache), for lanmsff::kernels' library
  list(APPEND common_args "-DCMAKE_CXX_COMPILER_LAUNCHER=${CXX_COMPILER_LAUNCHER}")
endif()

if(MODE STREQUAL "install")
  set(prefix "${WORK_DIR}/prefix")
  run("${CMAKE_COMMAND}" --install "${LANMSFF_BUILD_DIR}" --prefix "${prefix}" --config "${CONFIG}")
  run("${CMAKE_COMMAND}" -S "${consumer_sources}" -B "${consumer_build}" ${common_args}
      "-DCMAKE_PREFIX_PATH=${prefix}" -DCMAKE_FIND_USE_PACKAGE_REGISTRY=OFF)
elseif(MODE STREQUAL "subdirectory" OR MODE STREQUAL "fetchcontent")
  run("${CMAKE_COMMAND}" -S "${CMAKE_CURRENT_LIST_DIR}/subproject_consumer" -B "${consumer_build}" ${common_args}
      "-DLANMSFF_SOURCE_DIR=${LANMSFF_SOURCE_DIR}" "-DLANMSFF_CONSUMER_MODE=${MODE}")
else()
  message(FATAL_ERROR "run_consumer.cmake: unknown MODE '${MODE}'")
endif()

run("${CMAKE_COMMAND}" --build "${consumer_build}" --config "${CONFIG}")
find_program(consumer_exe consumer PATHS "${consumer_build}" "${consumer_build}/${CONFIG}" NO_DEFAULT_PATH
             NO_CACHE REQUIRED)
check_consumer_output("${consumer_exe}")

# The face front end from the installed package, when the tested build has it (WITH_FACES).
if(MODE STREQUAL "install" AND WITH_FACES)
  set(faces_build "${WORK_DIR}/faces-build")
  run("${CMAKE_COMMAND}" -S "${CMAKE_CURRENT_LIST_DIR}/faces_consumer" -B "${faces_build}" ${common_args}
      "-DCMAKE_PREFIX_PATH=${prefix}" -DCMAKE_FIND_USE_PACKAGE_REGISTRY=OFF)
  run("${CMAKE_COMMAND}" --build "${faces_build}" --config "${CONFIG}")
  find_program(faces_exe faces_consumer PATHS "${faces_build}" "${faces_build}/${CONFIG}" NO_DEFAULT_PATH
               NO_CACHE REQUIRED)
  run("${faces_exe}")
  message(STATUS "${faces_exe} printed:\n${run_output}")
  if(NOT run_output MATCHES "faces 0 eye 30.0 20.0\n")
    message(FATAL_ERROR "expected 'faces 0 eye 30.0 20.0' from the faces consumer")
  endif()
endif()

# pkg-config: the installed lanmsff.pc alone must be enough to compile the same program.
if(MODE STREQUAL "install")
  find_program(PKG_CONFIG_EXECUTABLE pkg-config NO_CACHE)
  if(NOT PKG_CONFIG_EXECUTABLE)
    message(STATUS "pkg-config not found: lanmsff.pc not checked")
    return()
  endif()
  set(ENV{PKG_CONFIG_PATH} "${prefix}/share/pkgconfig")
  run("${PKG_CONFIG_EXECUTABLE}" --cflags lanmsff)
  string(STRIP "${run_output}" cflags)
  run("${PKG_CONFIG_EXECUTABLE}" --libs lanmsff)
  string(STRIP "${run_output}" libs)
  message(STATUS "pkg-config --cflags lanmsff: ${cflags}\npkg-config --libs lanmsff: ${libs}")
  separate_arguments(cflags UNIX_COMMAND "${cflags}")
  # The headers must come from the prefix just installed (the .pc file locates it from its own path).
  file(REAL_PATH "${prefix}/include" wanted_include)
  set(found_include "")
  foreach(flag IN LISTS cflags)
    if(flag MATCHES "^-I(.+)$")
      set(dir "${CMAKE_MATCH_1}")
      if(EXISTS "${dir}/lanmsff/version.hpp")
        file(REAL_PATH "${dir}" found_include)
        break()
      endif()
    endif()
  endforeach()
  if(NOT found_include STREQUAL wanted_include)
    message(FATAL_ERROR "pkg-config --cflags lanmsff gives lanmsff's headers in '${found_include}', "
                        "expected the install prefix's '${wanted_include}'")
  endif()
  separate_arguments(libs UNIX_COMMAND "${libs}")
  run("${CXX_COMPILER}" -std=c++20 -O1 ${cflags} "${consumer_sources}/main.cpp" -o "${WORK_DIR}/pkgconfig-consumer"
      ${libs})
  check_consumer_output("${WORK_DIR}/pkgconfig-consumer")
endif()
