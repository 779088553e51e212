# The two commands of the README: `make tour` and `make test`. Each creates
# the virtual environment, installs the project with its test extras, and
# runs. Nothing needs to be installed by hand beyond Python 3 and a C
# compiler.

PYTHON ?= python3
VENV   ?= .venv
VPY    := $(VENV)/bin/python
# Backends this build must provide; a missing one fails the tests instead of
# being skipped. CI sets the list for what it installs. A bare backend
# requires every precision tests/matrix.py's table gives it on this CPU (from
# its ISA flags); `backend:fp32+int8` requires the listed ones. The suite
# prints the resulting matrix at the end.
XPUOPS_REQUIRE ?= ref,openblas,onednn,opencl,openvino,npusim,simd
export XPUOPS_REQUIRE

SOURCES := $(shell find csrc python -type f \( -name '*.c' -o -name '*.h' \
             -o -name '*.inc' -o -name '*.cl' -o -name '*.py' \)) pyproject.toml setup.py

.PHONY: install system-deps tour test sanitize fuzz fuzz-c lint format bench bench-cpu bench-opencl clean

# System packages: the OpenCL ICD loader and PoCL (OpenCL on the CPU), so the
# OpenCL backend has a device on any machine. Installed with apt-get when
# missing (CI runs as root on Debian); elsewhere the backend reports itself
# unavailable with the reason, and XPUOPS_REQUIRE makes that a failure.
OPENCL_PKGS := ocl-icd-libopencl1 pocl-opencl-icd

system-deps:
	@if ldconfig -p | grep -q 'libOpenCL.so.1' && ls /etc/OpenCL/vendors/*.icd >/dev/null 2>&1; then \
	  echo "OpenCL loader and ICD present"; \
	elif command -v apt-get >/dev/null 2>&1 && [ "$$(id -u)" = 0 ]; then \
	  apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q $(OPENCL_PKGS); \
	else \
	  echo "OpenCL missing: install $(OPENCL_PKGS) (or a GPU driver's ICD)"; \
	fi

$(VENV)/.stamp-venv:
	$(PYTHON) -m venv $(VENV)
	$(VPY) -m pip install --quiet --upgrade pip
	touch $@

$(VENV)/.stamp-install: $(VENV)/.stamp-venv $(SOURCES)
	$(VPY) -m pip install --quiet ".[all,test]"
	touch $@

install: system-deps $(VENV)/.stamp-install

tour: install
	$(VENV)/bin/xpuops tour

# In CI (CI=true) the suite also runs against the sanitizer build, and the
# C fuzz target runs for 30 s. The oneDNN part of the cross-device harness
# runs again with oneDNN capped to lesser ISAs, so kernels this CPU would
# not pick (AVX2, AVX-512 without VNNI) are checked too. Only oneDNN (and simd, below) follow
# the cap: ref picks its compiled clone by CPUID, OpenBLAS its core
# (OPENBLAS_CORETYPE), OpenVINO's CPU plugin and PoCL detect the ISA
# themselves (docs/DESIGN.md, "Honest numbers").
ISA_CAPS ?= AVX2 AVX512_CORE
# The simd backend follows its own cap, XPUOPS_MAX_ISA: its kernels for the
# lesser levels run again in the cross-device harness and tests/test_simd.py.
SIMD_CAPS ?= AVX2 AVX512_CORE
test: install
	$(VPY) -m pytest -q tests
	@for isa in $(ISA_CAPS); do echo "oneDNN capped to $$isa:"; \
	  ONEDNN_MAX_CPU_ISA=$$isa $(VPY) -m pytest -q -p no:cacheprovider \
	    tests/test_harness.py tests/test_honest.py -k onednn || exit 1; done
	@for isa in $(SIMD_CAPS); do echo "simd capped to $$isa:"; \
	  XPUOPS_MAX_ISA=$$isa $(VPY) -m pytest -q -p no:cacheprovider \
	    tests/test_harness.py tests/test_honest.py tests/test_simd.py \
	    -k simd || exit 1; done
	@if [ "$${CI:-}" = true ]; then $(MAKE) --no-print-directory sanitize && \
	  $(MAKE) --no-print-directory fuzz-c FUZZ_TIME=30; fi

bench: install
	$(VPY) -m pytest -q benchmarks

# The CPU backends against NumPy (and PyTorch when installed) and the
# machine's theoretical peaks; also builds the direct oneDNN C program.
bench-cpu: install benchmarks/onednn_direct
	$(VPY) benchmarks/cpu_backends.py

benchmarks/onednn_direct: benchmarks/onednn_direct.c install
	$(CC) -O2 -o $@ $< $$($(VPY) -c "import sysconfig,sys; \
	  print('-I' + sys.prefix + '/include -L' + sys.prefix + '/lib -Wl,-rpath,' + sys.prefix + '/lib')") \
	  -l:libdnnl.so.3

# The OpenCL GEMM against CLBlast (a benchmark-only peer) on the same device.
bench-opencl: install
	@dpkg -s libclblast-dev >/dev/null 2>&1 || apt-get install -y -q libclblast-dev
	$(VPY) benchmarks/opencl_gemm.py

# The whole test suite against an extension built with AddressSanitizer and
# UndefinedBehaviorSanitizer (runtimes preloaded into the uninstrumented
# Python). OpenVINO is left out of this run: its TBB dlopens with
# RTLD_DEEPBIND, which the sanitizer runtime cannot host
# (google/sanitizers#611); every other backend runs. Leak checking is off:
# CPython's own allocations would drown it (see the leak test instead).
SAN_VENV := .venv-sanitize
SAN_FLAGS := -fsanitize=address,undefined -fno-sanitize-recover=undefined \
             -fno-omit-frame-pointer -O1
# Files that exercise no C code of their own beyond what the others do
# (the CLI, notebooks, plots, fleets, names, the pytest plugin, timing and
# thread scaling): the sanitizers have nothing to find there, and they are
# the slowest under ASan.
SAN_SKIP := test_notebooks.py test_openvino.py test_cli.py test_fleet.py \
            test_plot.py test_jupyter.py test_budget.py test_names.py \
            test_peers.py test_plugin_plain.py test_bench_plugin.py \
            test_layers.py test_chips.py test_throughput.py test_threads.py \
            test_timing.py test_measure.py
sanitize: system-deps
	test -x $(SAN_VENV)/bin/python || $(PYTHON) -m venv $(SAN_VENV)
	rm -rf build-sanitize && mkdir build-sanitize && git archive HEAD | tar -x -C build-sanitize
	cp -r csrc python setup.py pyproject.toml build-sanitize/
	$(SAN_VENV)/bin/pip install --quiet --upgrade pip
	cd build-sanitize && CFLAGS="$(SAN_FLAGS)" LDFLAGS="-fsanitize=address,undefined" \
	  ../$(SAN_VENV)/bin/pip install --quiet ".[test]"
	LD_PRELOAD="$$(gcc -print-file-name=libasan.so) $$(gcc -print-file-name=libubsan.so)" \
	ASAN_OPTIONS=detect_leaks=0:protect_shadow_gap=0:allocator_may_return_null=1 \
	UBSAN_OPTIONS=print_stacktrace=1 XPUOPS_OPENVINO_LIB=/nonexistent \
	XPUOPS_REQUIRE=ref,openblas,onednn,opencl,npusim,simd \
	  $(SAN_VENV)/bin/python -m pytest -q -p no:cacheprovider tests \
	  $(addprefix --ignore=tests/,$(SAN_SKIP)) -k "not no_growth and not openvino"
# (the RSS-growth test is left to the normal run: ASan keeps freed memory in
# quarantine on purpose, so RSS grows under it by design)

# Property-based fuzzing of the Python API (hypothesis, tests/test_fuzz.py):
# `make test` draws 500 examples per property, this many more.
FUZZ_EXAMPLES ?= 20000
fuzz: install
	XPUOPS_FUZZ_EXAMPLES=$(FUZZ_EXAMPLES) $(VPY) -m pytest -q tests/test_fuzz.py

# libFuzzer with ASan+UBSan over the C core's handling of untrusted sizes
# and bytes (csrc/fuzz/fuzz_core.c). Needs clang >= 15 (_Float16 on x86);
# Debian's clang-15 is installed when missing. Crashes land in build-fuzz/.
CLANG     ?= clang-15
FUZZ_TIME ?= 300
FUZZ_SRCS := csrc/fuzz/fuzz_core.c csrc/core/dtype.c csrc/core/quant.c \
             csrc/core/tensor.c csrc/core/status.c csrc/core/util.c \
             csrc/backends/openvino/ir.c csrc/backends/npusim/requant.c
fuzz-c:
	@command -v $(CLANG) >/dev/null || { apt-get update -q && \
	  DEBIAN_FRONTEND=noninteractive apt-get install -y -q $(CLANG); }
	mkdir -p build-fuzz/corpus
	$(CLANG) -g -O1 -DXO_CLONES= -fsanitize=fuzzer,address,undefined \
	  -fno-sanitize-recover=undefined -Icsrc $(FUZZ_SRCS) -lm -o build-fuzz/fuzz_core
	cd build-fuzz && ./fuzz_core -max_total_time=$(FUZZ_TIME) corpus

$(VENV)/.stamp-devel: $(VENV)/.stamp-venv
	$(VPY) -m pip install --quiet onednn-devel-cpu-gomp==2023.2.0
	touch $@
benchmarks/onednn_direct: $(VENV)/.stamp-devel

lint: $(VENV)/.stamp-venv
	$(VPY) -m pip install --quiet ruff clang-format
	$(VENV)/bin/ruff check python tests benchmarks docs
	$(VENV)/bin/ruff format --check python tests benchmarks
	$(VENV)/bin/clang-format --dry-run --Werror \
	  $$(git ls-files 'csrc/*.c' 'csrc/*.h' 'csrc/*.inc')

format: $(VENV)/.stamp-venv
	$(VPY) -m pip install --quiet ruff clang-format
	$(VENV)/bin/ruff check --fix python tests benchmarks
	$(VENV)/bin/ruff format python tests benchmarks
	$(VENV)/bin/clang-format -i $$(git ls-files 'csrc/*.c' 'csrc/*.h' 'csrc/*.inc')

clean:
	rm -rf $(VENV) build python/*.egg-info build-fuzz build-sanitize .venv-sanitize
