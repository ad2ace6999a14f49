# gigachat-worker — developer entry points. `make test` is what CI runs (.ci/run).
SHELL := /bin/bash
SWIFT ?= swift
# librdkafka built by scripts/bootstrap.sh lives in /usr/local; make sure pkg-config and the loader see it.
export PKG_CONFIG_PATH := /usr/local/lib/pkgconfig:$(PKG_CONFIG_PATH)
export LD_LIBRARY_PATH := /usr/local/lib:$(LD_LIBRARY_PATH)

.PHONY: setup build test deploy-check demo lint bench image image-check broker-start broker-stop clean

setup:
	bash scripts/bootstrap.sh

build: setup
	$(SWIFT) build

# Three runs, one after the other: the end-to-end suites (a broker, an emulator and workers each) would otherwise
# share the 2 cores with the timing-sensitive unit suites. Together they run every test.
# Each run is bounded (scripts/test-run.sh) at several times what it takes here (about 20 s, 60 s and 300 s): a hang
# fails the run at once, naming the tests that never ended and where every thread of the test process waits.
test: setup
	$(SWIFT) build --build-tests
	bash scripts/test-run.sh 600 $(SWIFT) test --skip-build --skip 'KafkaIntegrationTests|WorkerIntegrationTests'
	bash scripts/test-run.sh 900 $(SWIFT) test --skip-build --filter 'KafkaIntegrationTests'
	bash scripts/test-run.sh 1500 $(SWIFT) test --skip-build --filter 'WorkerIntegrationTests'
	bash scripts/deploy-check.sh

# The deployment files under deploy/ (Dockerfile, Compose, Kubernetes, KEDA, Grafana), validated without Docker or
# a cluster; the dashboard is checked against a live /metrics scrape of the built worker (BIN= to choose one).
# `test` runs the script directly, setup having run already.
deploy-check: setup
	bash scripts/deploy-check.sh

# The container image from deploy/Dockerfile, with docker where an engine answers, else podman (installed with runc
# from Debian's packages); where base images cannot be pulled, local ones are made under the same tags first
# (scripts/image/bases.sh). Not part of `make test`.
image:
	bash scripts/image/build.sh

# The image run as a fleet would run it, against Tansu on the host: health check, /readyz, 200 jobs, SIGTERM mid-run,
# config check, three containers in one group with one stopped (scripts/image/check.py). Not part of `make test`.
image-check: setup image
	bash scripts/image/check.sh

demo: build
	bash scripts/demo.sh

lint:
	$(SWIFT) format lint --recursive --strict Sources Tests Benchmarks/Sources

bench: setup
	# Static like the image (deploy/Dockerfile): the binary that ships, and one valgrind can read (bench instructions).
	$(SWIFT) build -c release --static-swift-stdlib --product gigachat-worker
	cd Benchmarks && $(SWIFT) run -c release Benchmarks $(BENCH)

broker-start:
	bash scripts/broker.sh start

broker-stop:
	bash scripts/broker.sh stop

clean:
	rm -rf .build Benchmarks/.build run
