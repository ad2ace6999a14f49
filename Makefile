# gigachat-worker — developer entry points. `make test` is what CI runs (.ci/run).
SHELL := /bin/bash
SWIFT ?= swift
# librdkafka built by scripts/bootstrap.sh lives in /usr/local; make sure pkg-config and the loader see it.
export PKG_CONFIG_PATH := /usr/local/lib/pkgconfig:$(PKG_CONFIG_PATH)
export LD_LIBRARY_PATH := /usr/local/lib:$(LD_LIBRARY_PATH)

.PHONY: setup build test demo lint bench broker-start broker-stop clean

setup:
	bash scripts/bootstrap.sh

build: setup
	$(SWIFT) build

test: setup
	$(SWIFT) build --build-tests
	$(SWIFT) test --skip-build

demo: build
	bash scripts/demo.sh

lint:
	$(SWIFT) format lint --recursive --strict Sources Tests Benchmarks/Sources

bench: setup
	cd Benchmarks && $(SWIFT) run -c release Benchmarks $(BENCH)

broker-start:
	bash scripts/broker.sh start

broker-stop:
	bash scripts/broker.sh stop

clean:
	rm -rf .build Benchmarks/.build run
