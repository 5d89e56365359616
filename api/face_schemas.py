"""OpenAPI models of the root-level face API (seed `face_api_docs.md`), tag "Face API".

Why models for a multipart surface: the document then covers it, so schemathesis fuzzes these
endpoints like the platform's. Parsing stays in api/forms.py (files, integer or UUID user ids,
JSON encodings need hand checks), so these describe the contract; errors are `{"detail"}`.
"""

from __future__ import annotations

from pydantic import BaseModel, Field, RootModel

from api.openapi import DetailError


FILE = Field(json_schema_extra={"format": "binary"}, description="the image (JPEG, PNG, WebP, BMP, TIFF)")
USER_ID = Field(description="an integer, or a platform user's UUID")
THRESHOLD = Field(None, gt=0, le=2, description="maximum distance for a match; default matching.threshold")


class ImageForm(BaseModel):
    file: str = FILE


class CompareForm(BaseModel):
    file: str = FILE
    encoding: str = Field(description="JSON array of 512 numbers (at most 64 KiB)")
    threshold: float | None = THRESHOLD


class EnrollForm(BaseModel):
    tenant_id: int
    user_id: str = USER_ID
    name: str = Field(min_length=1, max_length=200)
    file: str = FILE


class IdentifyForm(BaseModel):
    tenant_id: int
    file: str = FILE
    threshold: float | None = THRESHOLD


class VerifyForm(BaseModel):
    tenant_id: int
    user_id: str = USER_ID
    file: str = FILE
    threshold: float | None = THRESHOLD


class FaceNote(BaseModel):
    faces_detected: int
    note: str | None = None


class EncodeOut(FaceNote):
    encoding: list[float]


class CompareOut(BaseModel):
    match: bool
    distance: float
    threshold: float


class DetectOut(BaseModel):
    faces: list[list[float]]


class EnrollOut(FaceNote):
    stored: bool
    count: int
    tenant_id: int
    enrollment_id: int
    quality_score: float
    obstacles: list[str]


class Candidate(BaseModel):
    user_id: int | str
    name: str
    distance: float


class IdentifyOut(FaceNote):
    match: bool
    name: str | None
    user_id: int | str | None
    distance: float | None
    box: list[float]
    threshold: float
    candidates: list[Candidate]


class VerifyOut(FaceNote):
    success: bool
    verified: bool
    message: str
    user_id: int | str
    distance: float
    threshold: float
    box: list[float]


class EnrollmentOut(BaseModel):
    id: int
    user_id: int | str
    name: str
    encoding: list[float]
    quality_score: float
    created_at: str


class EnrollmentsOut(BaseModel):
    tenant_id: int
    enrollments: list[EnrollmentOut]


class DeletedOut(BaseModel):
    deleted: int
    tenant_id: int
    enrollment_id: int | None = None
    name: str | None = None


class InvalidatedOut(BaseModel):
    invalidated: bool
    tenant_id: int


class RefreshedOut(BaseModel):
    cache_refreshed: bool
    tenant_id: int
    enrollment_count: int


class CacheStatusOut(BaseModel):
    tenant_id: int
    cached: bool
    enrollment_count: int
    ttl_seconds: int | None
    backend: str
    online: bool


class HealthOut(BaseModel):
    status: str
    version: str


class ImportItem(BaseModel):
    user_id: int | str = USER_ID
    name: str = Field(min_length=1, max_length=200)
    encoding: list[float] = Field(description="the recogniser's embedding (512 finite numbers, not all zero)")
    quality: float = Field(0.0, ge=0, le=1)


class ImportBody(RootModel[list[ImportItem]]):
    """A JSON array of faces (or NDJSON, one object a line, with an NDJSON content type)."""


class ImportOut(BaseModel):
    imported: int
    tenant_id: int
    enrollment_ids: list[int]
    count: int


ERRORS = {400: DetailError, 401: DetailError, 404: DetailError, 413: DetailError, 415: DetailError,
          422: DetailError, 429: DetailError}
