"""Pure, synchronous face engine: detection, landmarks, alignment, embedding, quality,
matching. numpy + onnxruntime + OpenCV only; never asyncio, aiohttp, aiortc or storage."""
