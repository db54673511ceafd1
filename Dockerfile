# LR Schedule Studio: the Streamlit app in a container (docs/deploying.md; keep the settings in
# .streamlit/config.toml, see docs/limits-and-security.md).
#   docker build -t lr-schedule-studio .
#   docker run --rm -p 8501:8501 lr-schedule-studio      # then open http://127.0.0.1:8501
# The base image is pinned by digest (python:3.11-slim, the multi-arch index; Python 3.11.15 when it was
# published). No registry is reachable where this was written, so the digest was NOT pulled or verified
# here: it is the one a BuildKit build log resolved for `docker.io/library/python:3.11-slim`
# ("FROM docker.io/library/python:3.11-slim@sha256:9358...6634"), and the same digest is pinned for
# python:3.11-slim (and python:3.11.15-slim) in several public Dockerfiles (e.g.
# github.com/sattyamjjain/agent-audit-kit). To refresh it: `docker buildx imagetools inspect
# python:3.11-slim` where a registry is reachable.
FROM python:3.11-slim@sha256:9358444059ed78e2975ada2c189f1c1a3144a5dab6f35bff8c981afb38946634

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    OMP_NUM_THREADS=2 \
    MKL_NUM_THREADS=2 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

RUN useradd --create-home --uid 1000 --shell /usr/sbin/nologin studio
WORKDIR /home/studio/app

# Dependencies first, so code changes do not invalidate this (large) layer.
# CPU torch: PyPI's Linux torch is the CUDA build (gigabytes); the CPU wheel comes from PyTorch's CPU
# index, installed first so that requirements.txt's torch==2.13.0 pin is already satisfied.
ARG TORCH_INDEX_URL=https://download.pytorch.org/whl/cpu
COPY requirements.txt ./
RUN pip install --index-url "${TORCH_INDEX_URL}" "$(grep -E '^torch==' requirements.txt)" \
 && pip install -r requirements.txt

# The library (installed, as `make venv` does, without touching the pinned dependencies) and the app.
COPY pyproject.toml README.md ./
COPY schedules/ schedules/
RUN pip install --no-deps . && rm -rf build *.egg-info
COPY app/ app/
COPY .streamlit/ .streamlit/

USER studio
EXPOSE 8501

# slim has no curl: probe Streamlit's health endpoint with the standard library.
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 \
    CMD ["python", "-c", "import sys, urllib.request; r = urllib.request.urlopen('http://127.0.0.1:8501/_stcore/health', timeout=4); sys.exit(0 if r.read().strip() == b'ok' else 1)"]

# app.serve warms the first chart, then runs `streamlit run app/main.py` in the same process.
CMD ["python", "-m", "app.serve", "--server.address", "0.0.0.0", "--server.port", "8501", "--server.headless", "true"]
