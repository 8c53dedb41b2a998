# Compiles SOURCE (expected to fail) and checks that the compiler's message contains EXPECTED:
# a mistake in a network type (a shape mismatch, a layer the ONNX export cannot map) must be a
# compile-time error that names the problem.
execute_process(
  COMMAND ${CXX} -std=c++20 -fsyntax-only -I${INCLUDE_DIR} -I${EIGEN_DIR} ${SOURCE}
  RESULT_VARIABLE result OUTPUT_VARIABLE out ERROR_VARIABLE err)
if(result EQUAL 0)
  message(FATAL_ERROR "${SOURCE} compiled, but it must be rejected at compile time")
endif()
string(FIND "${err}" "${EXPECTED}" found)
if(found EQUAL -1)
  message(FATAL_ERROR "${SOURCE} failed to compile, but without the message \"${EXPECTED}\":\n${err}")
endif()
message(STATUS "rejected at compile time with: ${EXPECTED}")
