# Thin wrappers over tasks.py, which needs only Python and pip.
.PHONY: run test smoke synth
run:
	python3 tasks.py run
test:
	python3 tasks.py test
smoke:
	python3 tasks.py run --profile smoke
synth:
	python3 tasks.py run --profile cpu --only 00
