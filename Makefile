# The README's two commands: `make run` and `make test`. Both build .venv from requirements*.txt first.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin

$(BIN)/.installed: requirements.txt requirements-dev.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -r requirements-dev.txt
	if [ -f clients/python/pyproject.toml ]; then $(BIN)/python -m pip install --quiet -e clients/python; fi
	touch $@

install: $(BIN)/.installed

run: install
	$(BIN)/python manage.py migrate --noinput
	$(BIN)/python manage.py runserver 127.0.0.1:8000

# pytest exits 5 when it collects nothing; make treats any non-zero exit as failure.
test: install
	$(BIN)/python -m pytest $(PYTEST_ARGS)

lint: install
	$(BIN)/ruff check .

.PHONY: install run test lint
