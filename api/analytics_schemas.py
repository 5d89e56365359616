"""Response and query models of `/api/analytics/` (tag `Analytics`), shaped as the seeds show."""

from __future__ import annotations

from datetime import date
from typing import Any, Literal

from pydantic import BaseModel, Field

from api.openapi import StrictModel

Period = Literal["today", "yesterday", "last_7_days", "last_30_days", "last_90_days", "this_month", "last_365_days"]


class PeriodQuery(StrictModel):
    period: Period = "last_30_days"


class AuditQuery(StrictModel):
    start_date: date | None = Field(None, description="YYYY-MM-DD, inclusive (UTC)")
    end_date: date | None = Field(None, description="YYYY-MM-DD, inclusive (UTC)")
    event_type: str | None = Field(None, max_length=64)
    category: Literal["enrollment", "authentication", "user", "credential", "webhook", "configuration",
                      "security", "access"] | None = None
    page: int = Field(1, ge=1, le=100000)
    page_size: int = Field(50, ge=1, le=200)


class DailyQuery(StrictModel):
    days: int = Field(7, ge=1, le=366, description="how many days back, today included")


class DashboardMetrics(BaseModel):
    total_authentications: int
    successful_rate: float
    average_response_time: float
    unique_users: int
    peak_concurrent_sessions: int
    total_enrollments: int
    failed_enrollments: int


class DashboardTrends(BaseModel):
    authentications_trend: str
    success_rate_trend: str
    response_time_trend: str


class Dashboard(BaseModel):
    period: str
    metrics: DashboardMetrics
    trends: DashboardTrends


class Statistics(BaseModel):
    period: str
    start: str
    end: str
    authentications: dict[str, Any]
    by_mode: dict[str, Any]
    enrollments: dict[str, Any]
    liveness: dict[str, Any]
    failure_reasons: dict[str, int]
    api: dict[str, Any]
    daily: list[dict[str, Any]]


class UserBehavior(BaseModel):
    period: str
    authentication_by_hour: list[dict[str, int]]
    authentication_by_weekday: dict[str, int]
    most_active_users: list[dict[str, Any]]
    success_failure_patterns: dict[str, Any]
    device_distribution: dict[str, int]


class RecognitionStats(BaseModel):
    period: str
    enrollments: dict[str, Any]
    authentications: dict[str, Any]
    verification: dict[str, Any]
    identification: dict[str, Any]
    failure_reasons: dict[str, int]
    average_confidence: float


class SystemMetrics(BaseModel):
    timestamp: str
    metrics: dict[str, Any]
    performance: dict[str, Any]


class AuditEntryOut(BaseModel):
    id: int
    event_type: str
    category: str
    outcome: str
    subject: str | None
    ip_address: str | None
    details: dict[str, Any]
    timestamp: str


class AuditPage(BaseModel):
    count: int
    next: str | None
    previous: str | None
    page: int
    page_size: int
    results: list[AuditEntryOut]


class SecurityPage(AuditPage):
    summary: dict[str, int]


class ModelPerformance(BaseModel):
    period: str
    accept_rate: float
    reject_rate: float
    liveness_pass_rate: float
    score_distributions: dict[str, list[dict[str, Any]]]
    daily: list[dict[str, Any]]


class ApiDaily(BaseModel):
    days: int
    results: list[dict[str, Any]]


class ApiSummary(BaseModel):
    period: str
    total_requests: int
    errors: int
    server_errors: int
    error_rate: float
    avg_response_time_ms: float
    p50_response_time_ms: float
    p95_response_time_ms: float
    top_endpoints: list[dict[str, Any]]
    status_codes: dict[str, int]


class ApiOverview(BaseModel):
    periods: dict[str, dict[str, Any]]
    generated_at: str
