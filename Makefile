# Kiln: the two commands a user needs first are `make lab` and `make test`.
SHELL := /bin/bash
.SHELLFLAGS := -euo pipefail -c
.DEFAULT_GOAL := help

VENV := .venv
export PATH := $(CURDIR)/$(VENV)/bin:$(PATH)
export ANSIBLE_CONFIG := $(CURDIR)/ansible.cfg
LAB_INVENTORY := inventories/lab
COLLECTION_LINK := collections/ansible_collections/kiln/cluster
REQUIREMENTS_STAMP := $(VENV)/.requirements-$(shell sha256sum requirements.txt | cut -c1-12)

.PHONY: help setup venv host image bundle bundle-upgrade-from test-ha lab lab-up lab-down lab-converge lint syntax unit pytest molecule smoke test bench bench-gate clean

help:
	@echo "make lab       bring up the lab nodes and run site.yml against them"
	@echo "make test      every quality gate: lint, syntax, unit, preflight, molecule, lab cluster"
	@echo "make test-ha   the 3-control-plane lab: site.yml, then a rerun with changed=0"
	@echo "make bundle    build the air-gap artifact bundle (cached in ~/.cache/kiln/bundle)"
	@echo "make bench     timings as JSON lines"
	@echo "make lab-down  remove the lab"

## Setup -----------------------------------------------------------------
setup: venv host image $(COLLECTION_LINK)

venv: $(REQUIREMENTS_STAMP)
$(REQUIREMENTS_STAMP): requirements.txt
	test -x $(VENV)/bin/python || python3 -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --upgrade pip
	$(VENV)/bin/pip install --quiet -r requirements.txt
	rm -f $(VENV)/.requirements-* && touch $@

host:
	bash scripts/setup-host.sh

image: host
	@bash scripts/build-node-image.sh >/dev/null

# The repository root is the collection kiln.cluster.
$(COLLECTION_LINK):
	mkdir -p $(dir $@) && ln -sfn ../../.. $@

# The air-gap artifact bundle (Kubernetes, containerd, runc, CNI, etcd, CoreDNS,
# images), cached outside the repo in ~/.cache/kiln/bundle: built from source
# once (about 25 minutes on 2 cores for both releases), then only when a pin changes.
# Upstream chart sources (<chart>-<version> directories) the bundle packages
# for the site's chart mirror; ../shared/charts where Kiln is developed.
export KILN_CHART_SOURCES ?= $(if $(wildcard $(CURDIR)/../shared/charts),$(abspath $(CURDIR)/../shared/charts),)
bundle: setup
	ansible-playbook playbooks/bundle.yml

# The lab test starts its cluster one release behind the pin and upgrades it
# (playbooks/upgrade.yml): the bundle holds that release too.
export KILN_UPGRADE_FROM ?= 1.36.1
bundle-upgrade-from: setup
	ansible-playbook playbooks/bundle.yml -e kiln_kubernetes_version=$(KILN_UPGRADE_FROM)

## Lab ---------------------------------------------------------------------
lab: setup bundle lab-up lab-converge

lab-up: setup
	python3 lab/lab.py up

lab-converge:
	ansible-playbook site.yml -i $(LAB_INVENTORY)

lab-down:
	python3 lab/lab.py down

## Quality gates -------------------------------------------------------------
# Each stage timed; the breakdown is printed at the end (scripts/timed-stages.sh).
test: setup
	bash scripts/timed-stages.sh lint syntax molecule pytest

lint: setup
	yamllint --strict .
	ansible-lint --profile production

syntax: setup
	python3 lab/lab.py inventory
	for inv in inventories/onprem $(LAB_INVENTORY); do \
	  for pb in site.yml playbooks/*.yml; do \
	    ansible-playbook --syntax-check -i $$inv $$pb >/dev/null || { echo "syntax: $$pb with $$inv failed"; exit 1; }; \
	  done; done
	@echo "syntax: every playbook passes with both inventories"

# The kubernetes_node scenario installs containerd and runc from the bundle.
molecule: setup bundle
	export KILN_NODE_IMAGE=$$(bash scripts/build-node-image.sh); \
	for scenario in $$(ls molecule); do molecule test -s $$scenario; done

unit: setup
	pytest -q tests/unit

# Unit tests, the preflight gate end to end, then the lab smoke test
# (lab-up, site.yml twice asserting changed=0, upgrade.yml, lifecycle, lab-down).
pytest: setup bundle bundle-upgrade-from
	pytest --durations=20 tests/unit tests/preflight tests/integration

# The HA lab (3 control planes + 1 worker): site.yml, then a rerun that must
# report changed=0, then tests/ha: the API virtual IP's failover and OpenBao's
# Raft cluster (playbooks/platform.yml: init once, rerun changed=0, leader
# loss, a sealed node unsealed, Kubernetes auth from a service account's
# token, no secret in the output). Not part of
# `make test` (about 15 minutes more).
test-ha: setup bundle
	export LAB_CONTROL_PLANES=3 LAB_NODES=4; python3 lab/lab.py down >/dev/null; python3 lab/lab.py up; \
	ansible-playbook site.yml -i $(LAB_INVENTORY); \
	ansible-playbook site.yml -i $(LAB_INVENTORY) | tee .lab/test-ha-rerun.log; \
	if grep -E 'changed=[1-9]' .lab/test-ha-rerun.log; then echo "test-ha: the rerun changed something"; exit 1; fi; \
	pytest tests/ha; \
	python3 lab/lab.py down

bench: setup bundle bench-gate
	python3 tests/bench.py

# The inventory gate and GPU plan at 50/500/5000 generated nodes (controller only, no lab).
bench-gate: setup
	python3 tests/bench_gate.py

clean: lab-down
	rm -rf .ansible/facts
