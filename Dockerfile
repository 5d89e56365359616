# CPU image by default; `docker build --build-arg GPU=1 .` swaps in onnxruntime-gpu
# (run with the NVIDIA container runtime; CUDAExecutionProvider is then picked from config).
FROM python:3.11-slim

ARG GPU=0
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1

RUN apt-get update && apt-get install -y --no-install-recommends libgl1 libglib2.0-0 \
    && rm -rf /var/lib/apt/lists/*

WORKDIR /app
COPY pyproject.toml requirements-nodeps.txt README.md ./
COPY facestream ./facestream
COPY engine ./engine
COPY recognition ./recognition
COPY sessions ./sessions
COPY storage ./storage
COPY events ./events
COPY streaming ./streaming
COPY signaling ./signaling
COPY api ./api
COPY web ./web
COPY models ./models
COPY config.yaml ./

RUN pip install . \
    && pip install --no-deps -r requirements-nodeps.txt \
    && if [ "$GPU" = "1" ]; then pip uninstall -y onnxruntime && pip install onnxruntime-gpu==1.32.0; fi \
    && ! pip list 2>/dev/null | grep -qE '^opencv-python '

RUN useradd --create-home facestream && mkdir -p /app/var && chown facestream /app/var
USER facestream
EXPOSE 8000
VOLUME ["/app/var"]
CMD ["facestream", "serve"]
