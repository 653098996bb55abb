"""Notice templates (模板): the notices a village posts again and again (医保缴费提醒, 防火防汛, 停水停电), kept by
name to start a new one from.

A template belongs to its maker's scope (`area`). Whoever that scope covers may use it, and so may those it sits
above: a county's template serves every village under it, a village's own is not seen by its neighbour. Only a
caller whose scope covers the template's area may change or delete it. The fields are checked as a post's are
(AnnouncementBase, TargetSpec, the pictures of announcements/pictures.py), and the target is kept as given, so a
template without one posts to the area of whoever uses it.
"""

from __future__ import annotations

from pathlib import Path

from sqlalchemy.exc import IntegrityError
from sqlmodel import col, or_, select
from sqlmodel.ext.asyncio.session import AsyncSession

from announcements.areas import in_area_subtree, lineage
from announcements.errors import Conflict, Forbidden, Invalid, NotFound
from announcements.models import NoticeTemplate, TemplateCreate, TemplatePublic, TemplateUpdate
from announcements.pictures import described
from announcements.queue import resolve_target
from announcements.tokens import Principal


def _name_taken(name: str) -> Conflict:
    return Conflict(
        f"a template named {name!r} exists in this area already",
        errors=[{"loc": ["name"], "msg": "taken", "type": "template_name_taken"}],
    )


def public(template: NoticeTemplate, principal: Principal) -> TemplatePublic:
    fields = {name: getattr(template, name) for name in TemplatePublic.model_fields if name != "editable"}
    return TemplatePublic.model_validate({**fields, "editable": principal.in_scope(template.area)})


async def _checked(*, session: AsyncSession, data: TemplateCreate, principal: Principal, media_dir: Path) -> dict:
    """The stored form of `data`: its target checked as a post's (scope, known screens) but kept as given, and
    its pictures described from what POST /media stored."""
    await resolve_target(session=session, spec=data.target, principal=principal)
    return {
        **data.model_dump(exclude={"target", "images"}),
        "target": data.target.model_dump() if data.target else None,
        "images": await described(data.images, media_dir) if data.images else [],
    }


async def _store(session: AsyncSession, template: NoticeTemplate, fields: dict) -> NoticeTemplate:
    """Write `fields` into it; a name taken in its area, before or by another writer meanwhile (the unique key),
    is a 409. The name is looked up before anything changes, so the lookup flushes nothing."""
    taken = select(NoticeTemplate.id).where(
        NoticeTemplate.area == template.area, NoticeTemplate.name == fields["name"], NoticeTemplate.id != template.id
    )
    if (await session.exec(taken)).first() is not None:
        raise _name_taken(fields["name"])
    try:
        async with session.begin_nested():
            for name, value in fields.items():
                setattr(template, name, value)
            session.add(template)
            await session.flush()
    except IntegrityError:
        raise _name_taken(fields["name"]) from None
    return template


async def create_template(*, session: AsyncSession, data: TemplateCreate, principal: Principal, media_dir: Path) -> NoticeTemplate:
    fields = await _checked(session=session, data=data, principal=principal, media_dir=media_dir)
    template = NoticeTemplate(**fields, area=principal.area, created_by=principal.token_id)
    return await _store(session, template, fields)


async def list_templates(*, session: AsyncSession, principal: Principal) -> list[NoticeTemplate]:
    """The templates the caller may use: made in its scope or above it; its own first, each group by name."""
    query = select(NoticeTemplate).where(
        or_(in_area_subtree(col(NoticeTemplate.area), principal.area), col(NoticeTemplate.area).in_(lineage(principal.area)))
    )
    rows = (await session.exec(query)).all()
    return sorted(rows, key=lambda t: (not principal.in_scope(t.area), t.name, t.area))


async def _own_template(*, session: AsyncSession, template_id: str, principal: Principal) -> NoticeTemplate:
    """A template the caller may change: 404 when it cannot see it, 403 when it comes from above its scope."""
    template = await session.get(NoticeTemplate, template_id)
    if template is None or not (principal.in_scope(template.area) or template.area in lineage(principal.area)):
        raise NotFound(f"no template {template_id} in scope")
    if not principal.in_scope(template.area):
        raise Forbidden(
            f"template {template_id} was made for {template.area}, above this scope: it may be used here, not changed",
            errors=[{"loc": [], "msg": "made above this scope", "type": "template_from_above"}],
        )
    return template


async def update_template(
    *, session: AsyncSession, template_id: str, changes: TemplateUpdate, principal: Principal, media_dir: Path
) -> NoticeTemplate:
    """Rename or edit: the changes laid over what is stored, checked as a new template is."""
    template = await _own_template(session=session, template_id=template_id, principal=principal)
    given = changes.model_dump(exclude_unset=True)
    if not given:
        raise Invalid("nothing to change")
    stored = {name: getattr(template, name) for name in TemplateCreate.model_fields}
    stored["images"] = [image["url"] for image in template.images]
    data = TemplateCreate.model_validate({**stored, **given})  # a ValidationError is the 422 naming the field
    return await _store(session, template, await _checked(session=session, data=data, principal=principal, media_dir=media_dir))


async def delete_template(*, session: AsyncSession, template_id: str, principal: Principal) -> None:
    template = await _own_template(session=session, template_id=template_id, principal=principal)
    await session.delete(template)
    await session.flush()
