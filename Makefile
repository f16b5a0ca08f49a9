# desk - the front door.  `make run` and `make test` do all the set-up.
#   make          build build/desk and libdesk (Release, gcc)
#   make run      set up, build, fetch the default model, start the chat
#   make test     set up, build, fetch models, run the whole suite, then the
#                 installed library checks (scripts/check-install.sh), the
#                 suite again under ASan+UBSan, and a clang -Werror build,
#                 then the ARM build's suite under qemu (make arm-test),
#                 then every fuzzer for FUZZ_SECONDS (fails on a crash)
#   make asan     the sanitizer build alone (build-asan/)
#   make clang    a clang build (build-clang/)
#   make arm      cross-build for aarch64 with NEON kernels (build-arm/:
#                 the library and the in-process tests; no CLI)
#   make arm-test make arm, then its tests under qemu-aarch64 -cpu max
#   make models   fetch the known models into the cache
#   make fuzz     run every fuzzer for FUZZ_SECONDS (default 60)
JOBS ?= $(shell nproc)
MAKEFLAGS += --no-print-directory
CMAKE_FLAGS ?=
FUZZ_SECONDS ?= 60
PROMPT ?= Explain in two sentences why the sky is blue.

.PHONY: all build setup models run test test-fast asan clang arm arm-test fuzz clean

all: build

build:
	@cmake -S . -B build -DCMAKE_BUILD_TYPE=Release $(CMAKE_FLAGS) >/dev/null
	@cmake --build build -j $(JOBS)

setup:
	@scripts/setup.sh

models: setup
	@scripts/fetch-models.sh

run: setup build models
	@if ./build/desk chat --help >/dev/null 2>&1; then \
	  if [ -t 0 ] && [ -t 1 ]; then ./build/desk chat -m smollm2; \
	  else ./build/desk run -m smollm2 --chat -p "$(PROMPT)" -n 128 --stats; fi; \
	else ./build/desk info smollm2; fi

asan:
	@cmake -S . -B build-asan -DCMAKE_BUILD_TYPE=Debug -DDESK_SANITIZE=ON -DCMAKE_C_COMPILER=clang $(CMAKE_FLAGS) >/dev/null
	@cmake --build build-asan -j $(JOBS)

clang:
	@cmake -S . -B build-clang -DCMAKE_BUILD_TYPE=Release -DCMAKE_C_COMPILER=clang $(CMAKE_FLAGS) >/dev/null
	@cmake --build build-clang -j $(JOBS)

# The ARM build ignores CMAKE_FLAGS (they name host compilers and options).
arm:
	@cmake -S . -B build-arm -DCMAKE_TOOLCHAIN_FILE=cmake/aarch64.cmake -DCMAKE_BUILD_TYPE=Release >/dev/null
	@cmake --build build-arm -j $(JOBS)

arm-test: arm
	@echo "== test suite (aarch64, NEON, under qemu-aarch64)"
	@cd build-arm && ctest --output-on-failure -j $(JOBS)

test-fast: build
	@cd build && ctest --output-on-failure -j $(JOBS)

test: setup build models clang asan arm
	@echo "== test suite (gcc, Release)"
	@cd build && ctest --output-on-failure -j $(JOBS)
	@echo "== the installed library (examples/ through pkg-config, exports)"
	@scripts/check-install.sh build
	@echo "== test suite (clang, ASan + UBSan)"
	@cd build-asan && ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1 \
	  DESK_SANITIZED=1 ctest --output-on-failure -j $(JOBS)
	@$(MAKE) arm-test
	@echo "== fuzzers ($(FUZZ_SECONDS)s each)"
	@scripts/fuzz.sh $(FUZZ_SECONDS)

fuzz:
	@scripts/fuzz.sh $(FUZZ_SECONDS)

clean:
	rm -rf build build-asan build-clang build-fuzz build-arm
