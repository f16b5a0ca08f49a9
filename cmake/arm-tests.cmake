# arm-tests.cmake - the tests of the ARM cross build (included by
# CMakeLists.txt when cross-compiling with cmake/aarch64.cmake).
#
# Only programs that test in-process are built: the ARM build has no CLI,
# so the tests that run the desk binary and the Python-driven ones (which
# compare host builds with reference packages) stay with the host build.
# CTest runs each program through CMAKE_CROSSCOMPILING_EMULATOR
# (qemu-aarch64 -cpu max, a CPU with the dot product).
enable_testing()
# -DDESK_ARM_TESTS="kernels;tensor" picks fewer (a plain default, not a
# cache entry, so that an existing build-arm/ follows changes to the list).
if(NOT DESK_ARM_TESTS)
  set(DESK_ARM_TESTS kernels ops tensor threadpool core sample chat gguf regress chat_tokens model)
endif()
file(GLOB DESK_TEST_UTIL CONFIGURE_DEPENDS ${CMAKE_SOURCE_DIR}/tests/util/*.c)
foreach(n ${DESK_ARM_TESTS})
  set(name test_${n})
  add_executable(${name} ${CMAKE_SOURCE_DIR}/tests/${name}.c ${DESK_TEST_UTIL})
  target_include_directories(${name} PRIVATE ${CMAKE_SOURCE_DIR}/tests ${CMAKE_SOURCE_DIR}/src)
  target_link_libraries(${name} PRIVATE desk PkgConfig::CMOCKA)
  add_test(NAME ${name} COMMAND ${name} WORKING_DIRECTORY ${CMAKE_SOURCE_DIR})
  set_tests_properties(${name} PROPERTIES TIMEOUT 600 ENVIRONMENT "DESK_SOURCE_DIR=${CMAKE_SOURCE_DIR}")
endforeach()

# The model test is the longest under emulation: start it first.
if(TEST test_model)
  set_tests_properties(test_model PROPERTIES COST 1000)
endif()

# NEON has no vector versions of SwiGLU, GEGLU or attention (the forward
# pass uses src/model/ops.c there, which test_model checks under qemu):
# test_ops's comparisons of those would check nothing, and fail saying so,
# so on ARM it runs only its attention-meaning test.
if(TEST test_ops)
  set_property(TEST test_ops APPEND PROPERTY ENVIRONMENT DESK_TEST_FILTER=test_attention_q8_0_meaning)
endif()

# The kernel tests must reach the NEON table (not pass on scalar alone).
set_property(TEST test_kernels APPEND PROPERTY ENVIRONMENT DESK_EXPECT_ISA=neon)

# Dispatch on ARM: DESK_ISA=neon is used; an x86 name fails with a message
# naming it.
set(_dispatch "DESK_TEST_FILTER=test_cpu_and_dispatch")
add_test(NAME kernels_isa_neon COMMAND test_kernels WORKING_DIRECTORY ${CMAKE_SOURCE_DIR})
set_tests_properties(kernels_isa_neon PROPERTIES ENVIRONMENT "DESK_ISA=neon;DESK_EXPECT_ISA=neon;${_dispatch}")
add_test(NAME kernels_isa_avx2 COMMAND test_kernels WORKING_DIRECTORY ${CMAKE_SOURCE_DIR})
set_tests_properties(kernels_isa_avx2 PROPERTIES ENVIRONMENT "DESK_ISA=avx2;DESK_EXPECT_ISA=none;${_dispatch}")

# Detection: on an emulated Cortex-A53 (ARMv8.0, no dot product) the
# scalar table is chosen, DESK_ISA=neon fails, and nothing executes an SDOT
# (which would be an illegal instruction there).
if(DESK_ARM_QEMU)
  add_test(NAME kernels_no_dotprod COMMAND ${DESK_ARM_QEMU} -cpu cortex-a53 $<TARGET_FILE:test_kernels>
           WORKING_DIRECTORY ${CMAKE_SOURCE_DIR})
  set_tests_properties(kernels_no_dotprod PROPERTIES ENVIRONMENT "DESK_EXPECT_ISA=scalar;${_dispatch}")
  add_test(NAME kernels_no_dotprod_forced COMMAND ${DESK_ARM_QEMU} -cpu cortex-a53 $<TARGET_FILE:test_kernels>
           WORKING_DIRECTORY ${CMAKE_SOURCE_DIR})
  set_tests_properties(kernels_no_dotprod_forced PROPERTIES ENVIRONMENT
    "DESK_ISA=neon;DESK_EXPECT_ISA=none;${_dispatch}")
endif()
