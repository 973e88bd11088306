# The synth worker image: synth and the bubblewrap sandbox. Generation happens on a vLLM
# server (compose.yaml); install the `gpu` extra instead to run vLLM in this container.
ARG BASE_IMAGE=python:3.11-slim-bookworm
FROM ${BASE_IMAGE}
RUN apt-get update && apt-get install -y --no-install-recommends bubblewrap python3 \
    && rm -rf /var/lib/apt/lists/*
WORKDIR /app
COPY pyproject.toml README.md ./
COPY synth ./synth
COPY taxonomies ./taxonomies
RUN pip install --no-cache-dir '.[s3]'
USER 1000:1000
ENTRYPOINT []
