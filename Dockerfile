# The tuner image: every tuner service in docker-compose.yml (study creation, workers, dashboard)
# runs it. TensorFlow comes with its CUDA libraries from pip ([gpu] extra), so a GPU host needs
# only the NVIDIA driver and the NVIDIA Container Toolkit. A smaller CPU-only image:
#   docker build --build-arg EXTRAS= -t mnist-tuner:cpu .
FROM python:3.11-slim-bookworm

ENV PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    TF_CPP_MIN_LOG_LEVEL=2

WORKDIR /app

# Dependencies first, in their own layer, so a code change rebuilds in seconds.
ARG EXTRAS=gpu
COPY pyproject.toml README.md* ./
RUN mkdir tuner && touch tuner/__init__.py \
    && pip install -e ".${EXTRAS:+[$EXTRAS]}"

COPY tuner ./tuner
COPY studies ./studies

# Not root. runs/ holds the worker logs; ~/.keras caches the MNIST download (a volume).
RUN useradd --create-home --uid 1000 tuner \
    && mkdir -p /app/runs /home/tuner/.keras/datasets \
    && chown -R tuner /app/runs /home/tuner/.keras
USER tuner

CMD ["python", "-m", "tuner.worker", "--help"]
