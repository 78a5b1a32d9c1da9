"""The Starlette application behind ``artifactstore ui``: server-rendered pages, each also JSON.

A page is JSON when the request says ``Accept: application/json`` or its path ends in
``.json``. URL paths never reach a filesystem: an artifact is named by an id or a ref,
validated by :func:`artifactstore.refs.parse_ref`, and resolved through the store.
Writes need the app's token (``Authorization: Bearer`` or the session cookie set by
``/login?token=``) and, with the cookie, the CSRF token of the session in the form.
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import hmac
import json
import re
import secrets
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlencode

from ..errors import (
    ArtifactNotFoundError,
    ArtifactStoreError,
    InvalidInputError,
    MissingDependencyError,
)
from ..models import Artifact
from ..redact import redact_url
from ..refs import parse_ref

try:
    import jinja2
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import HTMLResponse, JSONResponse, RedirectResponse, Response, StreamingResponse
    from starlette.routing import Mount, Route
    from starlette.staticfiles import StaticFiles
except ImportError as exc:  # pragma: no cover - exercised only without the extra
    raise MissingDependencyError(exc.name or "starlette", "ui", "the web interface") from None

from . import previews

__all__ = ["create_app", "SESSION_COOKIE", "parse_range", "safe_filename"]

SESSION_COOKIE = "artifactstore_session"
LIST_PAGE = 50
_HERE = Path(__file__).parent
_FILENAME_BAD = re.compile(r'[^A-Za-z0-9._+-]')


class _HttpError(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


def safe_filename(name: str) -> str:
    """The base name of an artifact, reduced to ``[A-Za-z0-9._+-]`` for a Content-Disposition header."""
    base = name.rsplit("/", 1)[-1]
    cleaned = _FILENAME_BAD.sub("_", base).lstrip(".") or "artifact"
    return cleaned[:200]


def parse_range(header: str, size: int) -> tuple[int, int] | None:
    """``(start, end_inclusive)`` of a single ``bytes=`` range, ``None`` for a header to ignore
    (several ranges or another unit: the whole body is sent).

    Raises ``ValueError`` when the range is malformed or cannot be satisfied (answer 416).
    """
    unit, _, spec = header.partition("=")
    if unit.strip().lower() != "bytes":
        return None
    spec = spec.strip()
    if "," in spec:
        return None
    first, dash, last = spec.partition("-")
    if not dash:
        raise ValueError("no dash")
    first, last = first.strip(), last.strip()
    if not (first.isdigit() or first == "") or not (last.isdigit() or last == "") or (not first and not last):
        raise ValueError("not a byte range")
    if first == "":
        n = int(last)
        if n == 0 or size == 0:
            raise ValueError("empty suffix")
        return max(0, size - n), size - 1
    start = int(first)
    end = int(last) if last else size - 1
    if start >= size or end < start:
        raise ValueError("unsatisfiable")
    return start, min(end, size - 1)


def _fmt_size(n: int | float | None) -> str:
    if n is None:
        return "-"
    x = float(n)
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if abs(x) < 1024 or unit == "TiB":
            return f"{int(x)} B" if unit == "B" else f"{x:.1f} {unit}"
        x /= 1024
    return str(n)


def _fmt_time(t: Any) -> str:
    if isinstance(t, _dt.datetime):
        return t.astimezone(_dt.timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC")
    return str(t)


def _ref_url(ref: str, suffix: str = "") -> str:
    return "/artifacts/" + quote(ref, safe="/@:") + suffix


def _champion_svg(history: list[dict[str, Any]]) -> str:
    """An inline SVG line chart of the champions' global score over promotions (oldest left)."""
    from html import escape

    pts = [h for h in reversed(history) if isinstance(h.get("global_score"), (int, float))]
    if not pts:
        return ""
    w, h, pad = 640, 180, 30
    ys = [float(p["global_score"]) for p in pts]
    lo, hi = min(ys), max(ys)
    if hi == lo:  # one champion (or equal scores): centre the line instead of pinning it to the axis
        pad_y = abs(hi) * 0.1 or 0.1
        lo, hi = lo - pad_y, hi + pad_y
    span = hi - lo
    n = len(pts)

    def xy(i: int, y: float) -> tuple[float, float]:
        x = pad + (w - 2 * pad) * (i / (n - 1) if n > 1 else 0.5)
        return x, h - pad - (h - 2 * pad) * (y - lo) / span

    coords = [xy(i, y) for i, y in enumerate(ys)]
    line = " ".join(f"{x:.1f},{y:.1f}" for x, y in coords)
    dots = "".join(
        f'<circle cx="{x:.1f}" cy="{y:.1f}" r="4"><title>#{escape(str(p["seq"]))} {escape(str(p["model_id"]))}: '
        f'{p["global_score"]:.4g}</title></circle>'
        for (x, y), p in zip(coords, pts, strict=True)
    )
    labels = "".join(
        f'<text x="{x:.1f}" y="{h - 8}" text-anchor="middle">{escape(str(p["model_id"]))[:14]}</text>'
        for (x, _), p in zip(coords, pts, strict=True)
    )
    return (
        f'<svg class="chart" viewBox="0 0 {w} {h}" role="img" aria-label="champion global score over promotions">'
        f'<text x="4" y="{pad - 10}">{hi:.4g}</text><text x="4" y="{h - pad + 4}">{lo:.4g}</text>'
        f'<line x1="{pad}" y1="{h - pad}" x2="{w - pad}" y2="{h - pad}" class="axis"/>'
        f'<polyline points="{line}" fill="none"/>{dots}{labels}</svg>'
    )


def create_app(store: Any, *, token: str | None = None, resamples: int = 2000,
               log_requests: Callable[[str, str, dict[str, str]], None] | None = None) -> Starlette:
    """The web app over ``store``.

    ``token``: without it the app is read-only (every write answers 403); with it a write
    needs ``Authorization: Bearer <token>`` or the session cookie from ``/login?token=<token>``
    plus the session's CSRF token in the form. ``resamples``: bootstrap resamples of the
    evaluation reports (built on demand, cached per set of evaluations).
    ``log_requests(method, path, headers)`` is called for each request (tests use it to see
    Range requests); it never receives the token.
    """
    env = jinja2.Environment(loader=jinja2.FileSystemLoader(str(_HERE / "templates")),
                             autoescape=jinja2.select_autoescape(default=True, default_for_string=True))
    env.filters["size"] = _fmt_size
    env.filters["time"] = _fmt_time
    env.filters["ref_url"] = _ref_url
    env.filters["urlq"] = lambda v: quote(str(v), safe="")
    secret = secrets.token_bytes(32)
    report_cache: dict[tuple[str, ...], dict[str, Any]] = {}
    report_lock = threading.Lock()

    def session_value() -> str:
        assert token is not None
        return hmac.new(secret, b"session:" + token.encode(), hashlib.sha256).hexdigest()

    def csrf_for(session: str) -> str:
        return hmac.new(secret, b"csrf:" + session.encode(), hashlib.sha256).hexdigest()

    def auth(request: Request) -> tuple[bool, str | None]:
        """(may write, csrf token of this session or None for bearer/no auth)."""
        if token is None:
            return False, None
        header = request.headers.get("authorization", "")
        if header.lower().startswith("bearer ") and hmac.compare_digest(header[7:].strip().encode(), token.encode()):
            return True, None
        cookie = request.cookies.get(SESSION_COOKIE, "")
        if cookie and hmac.compare_digest(cookie.encode(), session_value().encode()):
            return True, csrf_for(cookie)
        return False, None

    def wants_json(request: Request) -> bool:
        forced = getattr(request.state, "json", None)
        if forced is not None:
            return bool(forced)
        if request.url.path.endswith(".json"):
            return True
        accept = request.headers.get("accept", "")
        return "application/json" in accept and "text/html" not in accept

    def page(request: Request, template: str, data: dict[str, Any], status: int = 200,
             **extra: Any) -> Response:
        if wants_json(request):
            return JSONResponse(data, status_code=status)
        can_write, csrf = auth(request)
        ctx = {"data": data, "can_write": can_write, "csrf": csrf, "writable": token is not None,
               "path": request.url.path, **extra}
        return HTMLResponse(env.get_template(template).render(**ctx), status_code=status)

    def error_page(request: Request, status: int, message: str) -> Response:
        return page(request, "error.html", {"error": message, "status": status}, status=status)

    def resolve(ref: str) -> Artifact:
        if ".." in ref or "\\" in ref or "%" in ref or "\x00" in ref:
            raise _HttpError(400, "invalid ref")
        try:
            parse_ref(ref)
        except InvalidInputError as exc:
            raise _HttpError(400, f"invalid ref: {exc}") from None
        try:
            art: Artifact = store.resolve(ref)
        except ArtifactNotFoundError:
            raise _HttpError(404, f"no artifact matches {ref!r}") from None
        return art

    def art_json(a: Artifact) -> dict[str, Any]:
        d = a.to_dict()
        d.pop("blob_key", None)
        d["ref"] = a.ref
        d["url"] = _ref_url(a.id)
        return d

    def handler(fn: Callable[[Request], Response]) -> Callable[[Request], Any]:
        async def endpoint(request: Request) -> Response:
            from starlette.concurrency import run_in_threadpool

            if log_requests is not None:
                hdrs = {k: v for k, v in request.headers.items() if k not in ("authorization", "cookie")}
                log_requests(request.method, request.url.path, hdrs)
            if request.method == "POST":
                request.state.form = await request.form()
            try:
                return await run_in_threadpool(fn, request)
            except _HttpError as exc:
                return error_page(request, exc.status, exc.message)
            except ArtifactNotFoundError as exc:
                return error_page(request, 404, str(exc))
            except InvalidInputError as exc:
                return error_page(request, 400, str(exc))
            except MissingDependencyError as exc:
                return error_page(request, 501, str(exc))
            except ArtifactStoreError as exc:
                return error_page(request, 500, str(exc))
            finally:
                form = getattr(request.state, "form", None)
                if form is not None:
                    await form.close()

        return endpoint

    def int_param(request: Request, name: str, default: int = 0, lo: int = 0, hi: int = 10**12) -> int:
        raw = request.query_params.get(name)
        if raw is None or raw == "":
            return default
        try:
            return max(lo, min(hi, int(raw)))
        except ValueError:
            raise _HttpError(400, f"{name} must be an integer") from None

    # --- read pages ----------------------------------------------------------------------

    def overview(request: Request) -> Response:
        stats = store.stats().to_dict()
        recent = [art_json(a) for a in store.find(limit=10)]
        champs = [c.to_dict() for c in store.champion_history(limit=50)]
        data = {"store": redact_url(str(store.url)), "stats": stats, "recent": recent, "champions": champs}
        return page(request, "overview.html", data, chart=_champion_svg(champs))

    FILTER_PARAMS = {"type": "artifact_type", "model": "model_id", "evaluation": "evaluation_id",
                     "tag": "tags", "suite": "suite_name", "map": "map_name", "name_prefix": "name_prefix"}

    def filters_of(request: Request) -> dict[str, Any]:
        f: dict[str, Any] = {}
        for param, key in FILTER_PARAMS.items():
            v = request.query_params.get(param, "").strip()
            if v:
                f[key] = [v] if key == "tags" else v
        for param, key in (("after", "created_after"), ("before", "created_before")):
            v = request.query_params.get(param, "").strip()
            if v:
                try:
                    f[key] = _dt.datetime.fromisoformat(v).replace(tzinfo=_dt.timezone.utc) \
                        if len(v) <= 10 else _dt.datetime.fromisoformat(v)
                except ValueError:
                    raise _HttpError(400, f"{param} must be a date (YYYY-MM-DD)") from None
        return f

    def artifacts(request: Request) -> Response:
        q = request.query_params.get("q", "").strip()
        offset = int_param(request, "offset")
        limit = int_param(request, "limit", LIST_PAGE, 1, 500)
        f = filters_of(request)
        if q:
            arts = store.search(q, limit=limit + 1, offset=offset, **f)
            total = None
        else:
            arts = store.find(limit=limit + 1, offset=offset, **f)
            total = store.count(**f)
        more = len(arts) > limit
        arts = arts[:limit]
        params = {k: v for k, v in request.query_params.items() if k not in ("offset",) and v}
        nxt = "/artifacts?" + urlencode({**params, "offset": offset + limit}) if more else None
        prev = "/artifacts?" + urlencode({**params, "offset": max(0, offset - limit)}) if offset else None
        data = {"q": q, "filters": {k: request.query_params.get(k, "") for k in [*FILTER_PARAMS, "after", "before"]},
                "offset": offset, "limit": limit, "total": total, "artifacts": [art_json(a) for a in arts],
                "next": nxt, "prev": prev}
        return page(request, "artifacts.html", data, types=sorted(store.stats().artifacts_by_type))

    def search(request: Request) -> Response:
        q = request.query_params.get("q", "").strip()
        if not q:
            return page(request, "search.html", {"q": "", "artifacts": []})
        offset = int_param(request, "offset")
        arts = store.search(q, limit=LIST_PAGE + 1, offset=offset)
        data = {"q": q, "offset": offset, "artifacts": [art_json(a) for a in arts[:LIST_PAGE]],
                "next": f"/search?{urlencode({'q': q, 'offset': offset + LIST_PAGE})}" if len(arts) > LIST_PAGE
                else None}
        return page(request, "search.html", data)

    def detail(request: Request, ref: str, as_json_suffix: bool = True) -> Response:
        art = resolve(ref)
        if not as_json_suffix:
            accept = request.headers.get("accept", "")
            request.state.json = "application/json" in accept and "text/html" not in accept
        versions = []
        for v in store.versions(art.name):
            versions.append({**art_json(v), "aliases": store.aliases(v.id)})
        evaluation = None
        if art.evaluation_id:
            try:
                evaluation = store.evaluation(art.evaluation_id).to_dict()
            except ArtifactNotFoundError:
                evaluation = None
        champions = [c.to_dict() for c in store.champion_history() if art.id in c.artifacts]
        kind = previews.kind_of(art)
        data = {"artifact": art_json(art), "aliases": store.aliases(art.id), "versions": versions,
                "evaluation": evaluation, "champions": champions, "preview_kind": kind,
                "raw": _ref_url(art.id, "/raw"),
                "snippets": {
                    "python": f"import artifactstore\nstore = artifactstore.open(STORE_URL)\n"
                              f"store.get({art.ref!r}, {safe_filename(art.name)!r})",
                    "cli": f"artifactstore --store STORE_URL get {_shell_quote(art.ref)} {safe_filename(art.name)}",
                }}
        extra: dict[str, Any] = {"kind": kind}
        if kind in ("text", "json"):
            extra["preview"] = _text_or_json(art, kind, 0)
        elif kind in ("csv", "tsv", "jsonl", "parquet"):
            extra["table"] = _table(request, art, kind)
        return page(request, "artifact.html", data, **extra)

    def _text_or_json(art: Artifact, kind: str, offset: int) -> dict[str, Any]:
        if kind == "json" and offset == 0 and art.size <= previews.JSON_PARSE_LIMIT:
            with store.open(art) as f:
                try:
                    value = json.load(f)
                except (ValueError, UnicodeDecodeError):
                    value = None
                else:
                    html, cut = previews.json_tree(value)
                    return {"json_html": html, "cut": cut}
        return previews.text_preview(store, art, offset)

    def _table(request: Request, art: Artifact, kind: str) -> dict[str, Any]:
        try:
            p = previews.table_page(
                store, art, kind, offset=int_param(request, "offset"),
                sort=request.query_params.get("sort") or None,
                desc=request.query_params.get("desc", "") in ("1", "true", "yes"),
                filter_column=request.query_params.get("fcol") or None,
                filter_text=request.query_params.get("fq") or None)
        except (ValueError, OSError) as exc:
            if isinstance(exc, ArtifactStoreError):
                raise
            return {"error": f"cannot read as {kind}: {exc}"}
        d = p.to_dict()
        base = {k: v for k, v in request.query_params.items() if k in ("sort", "desc", "fcol", "fq") and v}
        d["next"] = "?" + urlencode({**base, "offset": p.offset + p.page_size}) if p.has_more else None
        d["prev"] = "?" + urlencode({**base, "offset": max(0, p.offset - p.page_size)}) if p.offset else None
        d["sort_links"] = {c: "?" + urlencode({**{k: v for k, v in base.items() if k not in ("sort", "desc")},
                                                "sort": c, **({"desc": "1"} if p.sort == c and not p.desc else {})})
                           for c in p.columns}
        return d

    def preview(request: Request, ref: str) -> Response:
        art = resolve(ref)
        kind = previews.kind_of(art)
        if kind in ("csv", "tsv", "jsonl", "parquet"):
            data = {"artifact": art_json(art), "kind": kind, "table": _table(request, art, kind)}
        else:
            data = {"artifact": art_json(art), "kind": "text",
                    "preview": previews.text_preview(store, art, int_param(request, "offset"))}
        return page(request, "preview.html", data)

    def raw(request: Request, ref: str) -> Response:
        art = resolve(ref)
        size = art.size
        headers = {"Accept-Ranges": "bytes", "ETag": f'"{art.sha256}"',
                   "Content-Disposition": f'attachment; filename="{safe_filename(art.name)}"',
                   "X-Content-Type-Options": "nosniff"}
        kind = previews.kind_of(art)
        if request.query_params.get("inline") or kind in ("image", "video", "audio"):
            headers["Content-Disposition"] = "inline" + headers["Content-Disposition"][len("attachment"):]
        media = _media_type(art.name)
        if media == "image/svg+xml":  # an SVG can carry script: never render it as our origin's page
            headers["Content-Security-Policy"] = "sandbox"
        start, end, status = 0, size - 1, 200
        rng = request.headers.get("range")
        if rng and request.headers.get("if-range", f'"{art.sha256}"') == f'"{art.sha256}"':
            try:
                parsed = parse_range(rng, size)
            except ValueError:
                return Response(status_code=416, headers={"Content-Range": f"bytes */{size}", **headers})
            if parsed is not None:
                start, end = parsed
                status = 206
                headers["Content-Range"] = f"bytes {start}-{end}/{size}"
        length = max(0, end - start + 1)
        headers["Content-Length"] = str(length)

        def body() -> Iterator[bytes]:
            with store.open(art) as f:
                previews.skip(f, start)
                left = length
                while left > 0:
                    chunk = f.read(min(left, 1 << 20))
                    if not chunk:
                        break
                    left -= len(chunk)
                    yield chunk

        if request.method == "HEAD":
            return Response(status_code=status, headers=headers, media_type=media)
        return StreamingResponse(body(), status_code=status, headers=headers, media_type=media)

    def artifact_route(request: Request) -> Response:
        path = request.path_params["ref"]
        if request.method == "POST":
            for action in ("unalias", "alias", "delete", "tags"):
                if path.endswith("/" + action):
                    return write(request, action, path[: -len(action) - 1])
            raise _HttpError(404, "unknown action")
        if path.endswith("/raw"):
            return raw(request, path[:-4])
        if path.endswith("/preview") or path.endswith("/preview.json"):
            return preview(request, path.rsplit("/preview", 1)[0])
        if path.endswith(".json"):
            # Names may end in .json themselves: the suffix means "as JSON" only when the
            # whole path names no artifact.
            try:
                return detail(request, path, as_json_suffix=False)
            except _HttpError as exc:
                if exc.status != 404:
                    raise
            request.state.json = True
            return detail(request, path[:-5])
        return detail(request, path)

    def evaluations(request: Request) -> Response:
        evs = [e.to_dict() for e in store.evaluations(limit=500)]
        return page(request, "evaluations.html", {"evaluations": evs})

    def evaluation(request: Request) -> Response:
        eid = request.path_params["eid"]
        if eid.endswith(".json"):
            eid = eid[:-5]
        rec = store.evaluation(eid)
        arts = []
        for aid in rec.artifacts:
            try:
                arts.append(art_json(store.resolve(aid)))
            except ArtifactNotFoundError:
                continue
        known = {a["id"] for a in arts}
        arts += [art_json(a) for a in store.find(evaluation_id=eid, limit=100) if a.id not in known]
        ids = [eid]
        champ = store.champion()
        if champ is not None and champ.evaluation_id and champ.evaluation_id != eid:
            ids.append(champ.evaluation_id)
        key = tuple(sorted(ids))
        with report_lock:
            report = report_cache.get(key)
        if report is None:
            report = _build_report(list(key))
            with report_lock:
                report_cache[key] = report
        data = {"evaluation": rec.to_dict(), "artifacts": arts, "report_evaluations": list(key),
                "report": report.get("data"), "report_error": report.get("error")}
        grid: dict[str, dict[str, Any]] = {}
        for cell in (report.get("data") or {}).get("per_map", []):
            grid.setdefault(str(cell.get("map")), {})[str(cell.get("model_id"))] = cell
        return page(request, "evaluation.html", data, figures=report.get("figures", {}), grid=grid)

    def _build_report(ids: list[str]) -> dict[str, Any]:
        from ..errors import NoEpisodeDataError

        try:
            from ..evaluation.report import build_report

            rep = build_report(store, evaluations=ids, metric="reward", seed=0, resamples=resamples)
        except (NoEpisodeDataError, MissingDependencyError, InvalidInputError) as exc:
            return {"error": str(exc)}
        return {"data": rep.to_dict(), "figures": dict(rep.figures)}

    def champions(request: Request) -> Response:
        hist = [c.to_dict() for c in store.champion_history()]
        return page(request, "champions.html", {"champions": hist}, chart=_champion_svg(hist))

    def compare(request: Request) -> Response:
        a_ref = request.query_params.get("a", "")
        b_ref = request.query_params.get("b", "")
        if not a_ref or not b_ref:
            raise _HttpError(400, "compare needs ?a=REF&b=REF")
        a, b = resolve(a_ref), resolve(b_ref)
        ka, kb = previews.kind_of(a), previews.kind_of(b)
        data: dict[str, Any] = {"a": art_json(a), "b": art_json(b), "same_content": a.sha256 == b.sha256}
        tables = ("csv", "tsv", "jsonl", "parquet")
        if ka in tables and kb in tables:
            sa = previews.column_summary(store, a, ka)
            sb = previews.column_summary(store, b, kb)
            cols = list(dict.fromkeys([*sa["columns"], *sb["columns"]]))
            data["tables"] = {"a": sa, "b": sb, "columns": cols}
        elif ka in ("text", "json", *tables) or kb in ("text", "json", *tables):
            data["diff"] = previews.text_diff(store, a, b)
        return page(request, "compare.html", data)

    # --- auth and writes -----------------------------------------------------------------

    def login(request: Request) -> Response:
        given = request.query_params.get("token", "")
        if token is None:
            raise _HttpError(403, "this server is read-only (started without --token)")
        if not given or not hmac.compare_digest(given.encode(), token.encode()):
            raise _HttpError(403, "wrong token")
        resp = RedirectResponse("/", status_code=303)
        resp.set_cookie(SESSION_COOKIE, session_value(), httponly=True, samesite="strict", path="/")
        return resp

    def logout(request: Request) -> Response:
        resp = RedirectResponse("/", status_code=303)
        resp.delete_cookie(SESSION_COOKIE, path="/")
        return resp

    def check_write(request: Request) -> None:
        if token is None:
            raise _HttpError(403, "read-only: start the server with --token to allow changes")
        ok, csrf = auth(request)
        if not ok:
            raise _HttpError(403, "a valid token is needed for changes")
        if csrf is not None:
            given = str(request.state.form.get("csrf", ""))
            if not given or not hmac.compare_digest(given.encode(), csrf.encode()):
                raise _HttpError(403, "missing or wrong CSRF token")

    def done(request: Request, data: dict[str, Any], location: str) -> Response:
        if wants_json(request) or "authorization" in request.headers:
            return JSONResponse(data)
        return RedirectResponse(location, status_code=303)

    def write(request: Request, action: str, ref: str) -> Response:
        check_write(request)
        art = resolve(ref)
        form = request.state.form
        if action == "alias":
            alias = str(form.get("alias", "")).strip()
            updated = store.set_alias(art, alias)
            return done(request, {"artifact": art_json(updated), "alias": alias}, _ref_url(updated.id))
        if action == "unalias":
            alias = str(form.get("alias", "")).strip()
            store.remove_alias(art.name, alias)
            return done(request, {"artifact": art_json(art), "removed_alias": alias}, _ref_url(art.id))
        if action == "delete":
            gone = store.delete(art)
            return done(request, {"deleted": art_json(gone)}, "/artifacts")
        # tags: the given list replaces the artifact's tags in place (journalled, so reindex
        # reproduces it); name, version and bytes stay as they are
        raw_tags = str(form.get("tags", ""))
        tags = [t.strip() for t in raw_tags.split(",") if t.strip()]
        new = store.edit_artifact(art, remove_tags=art.tags, add_tags=tags)
        return done(request, {"artifact": art_json(new)}, _ref_url(new.id))

    def upload(request: Request) -> Response:
        if request.method == "GET":
            return page(request, "upload.html", {})
        check_write(request)
        form = request.state.form
        file = form.get("file")
        if file is None or isinstance(file, str):
            raise _HttpError(400, "upload needs a file field")
        name = str(form.get("name", "")).strip() or (file.filename or "upload")
        meta_text = str(form.get("metadata", "")).strip()
        try:
            metadata = json.loads(meta_text) if meta_text else None
        except ValueError:
            raise _HttpError(400, "metadata must be a JSON object") from None
        tags = [t.strip() for t in str(form.get("tags", "")).split(",") if t.strip()]
        art = store.put(file.file, artifact_type=str(form.get("type", "")).strip() or "log", name=name,
                        model_id=str(form.get("model", "")).strip() or None, tags=tags, metadata=metadata)
        return done(request, {"artifact": art_json(art)}, _ref_url(art.id))

    def h(fn: Callable[..., Response]) -> Callable[[Request], Any]:
        return handler(fn)

    routes = [
        Route("/", h(overview)),
        Route("/index.json", h(overview)),
        Route("/artifacts", h(artifacts)),
        Route("/artifacts.json", h(artifacts)),
        Route("/artifacts/{ref:path}", h(artifact_route), methods=["GET", "HEAD", "POST"]),
        Route("/search", h(search)),
        Route("/search.json", h(search)),
        Route("/evaluations", h(evaluations)),
        Route("/evaluations.json", h(evaluations)),
        Route("/evaluations/{eid:path}", h(evaluation)),
        Route("/champions", h(champions)),
        Route("/champions.json", h(champions)),
        Route("/compare", h(compare)),
        Route("/compare.json", h(compare)),
        Route("/upload", h(upload), methods=["GET", "POST"]),
        Route("/login", h(login)),
        Route("/logout", h(logout), methods=["GET", "POST"]),
        Mount("/static", StaticFiles(directory=str(_HERE / "static")), name="static"),
    ]
    app = Starlette(routes=routes)

    app.add_middleware(_SecurityHeaders)
    return app


_HEADERS = [
    (b"x-frame-options", b"DENY"),
    (b"referrer-policy", b"no-referrer"),
    (b"x-content-type-options", b"nosniff"),
    (b"content-security-policy", b"default-src 'self'; img-src 'self' data:; media-src 'self'; "
                                 b"style-src 'self' 'unsafe-inline'; script-src 'self'; object-src 'none'; "
                                 b"frame-ancestors 'none'"),
]


class _SecurityHeaders:
    """ASGI middleware adding the security headers to every response that lacks them."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def wrapped(message: Any) -> None:
            if message["type"] == "http.response.start":
                have = {k.lower() for k, _ in message.get("headers", [])}
                message["headers"] = [*message.get("headers", []), *[(k, v) for k, v in _HEADERS if k not in have]]
            await send(message)

        await self.app(scope, receive, wrapped)


def _shell_quote(s: str) -> str:
    import shlex

    return shlex.quote(s)


_MEDIA = {".png": "image/png", ".jpg": "image/jpeg", ".jpeg": "image/jpeg", ".gif": "image/gif",
          ".webp": "image/webp", ".svg": "image/svg+xml", ".bmp": "image/bmp", ".mp4": "video/mp4",
          ".webm": "video/webm", ".ogv": "video/ogg", ".ogg": "audio/ogg", ".wav": "audio/wav", ".mp3": "audio/mpeg",
          ".flac": "audio/flac", ".oga": "audio/ogg", ".m4a": "audio/mp4", ".mov": "video/quicktime",
          ".m4v": "video/mp4", ".json": "application/json", ".csv": "text/csv", ".tsv": "text/tab-separated-values",
          ".txt": "text/plain", ".log": "text/plain", ".jsonl": "application/x-ndjson",
          ".parquet": "application/vnd.apache.parquet"}


def _media_type(name: str) -> str:
    base = name.rsplit("/", 1)[-1].lower()
    ext = "." + base.rsplit(".", 1)[-1] if "." in base else ""
    media = _MEDIA.get(ext, "application/octet-stream")
    # text served as text/plain with nosniff: a .html artifact never renders as a page of ours
    return media
