# aarch64.cmake - toolchain file for the ARM build (`make arm`, build-arm/):
# 64-bit ARM Linux with Debian's cross compiler (gcc-aarch64-linux-gnu), the
# libraries from dpkg's arm64 multiarch packages (/usr/lib/aarch64-linux-gnu,
# installed by scripts/setup.sh), and the tests run under qemu-user.
set(CMAKE_SYSTEM_NAME Linux)
set(CMAKE_SYSTEM_PROCESSOR aarch64)
# gcc by default; -DCMAKE_C_COMPILER=clang -DCMAKE_C_COMPILER_TARGET=aarch64-linux-gnu
# builds the same with clang.
if(NOT CMAKE_C_COMPILER)
  set(CMAKE_C_COMPILER aarch64-linux-gnu-gcc)
endif()
set(CMAKE_LIBRARY_ARCHITECTURE aarch64-linux-gnu)

# pkg-config must see the arm64 .pc files only, never the host's.
set(ENV{PKG_CONFIG_LIBDIR} "/usr/lib/aarch64-linux-gnu/pkgconfig:/usr/share/pkgconfig")
set(ENV{PKG_CONFIG_PATH} "")

# CTest runs every test program through qemu.  -cpu max gives the emulated
# CPU the ARMv8.2 dot product the NEON kernels need; -L finds the arm64
# dynamic loader and C library of libc6-arm64-cross.
set(DESK_ARM_QEMU qemu-aarch64 -L /usr/aarch64-linux-gnu -E LD_LIBRARY_PATH=/usr/aarch64-linux-gnu/lib)
set(CMAKE_CROSSCOMPILING_EMULATOR ${DESK_ARM_QEMU} -cpu max)
