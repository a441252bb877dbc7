# mynaflow developer entry points. `make run` and `make test` are all a newcomer needs.
# scripts/infra.py is stdlib Python so it runs before uv or a virtualenv exists.
PYTHON ?= python3
UV_VERSION ?= 0.13.8
UV ?= uv

.PHONY: infra-up infra-down infra-status infra-clean

infra-up:
	$(PYTHON) scripts/infra.py up

infra-down:
	$(PYTHON) scripts/infra.py down

infra-status:
	$(PYTHON) scripts/infra.py status

infra-clean:
	$(PYTHON) scripts/infra.py clean
