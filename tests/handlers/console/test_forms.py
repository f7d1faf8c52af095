"""``attempt``, the one path of a posted console form: what was done, or the form back with what
was typed, its messages and the status — 422 for what failed to read, the service's own for its
refusal, undone — while a refusal that is not the form's (by default an access check's 404) reaches
the page."""

import pytest
from pydantic import BaseModel

from handlers.console.common import Form, Refused, any_refusal, attempt, only
from models import District
from server.errors import NotFound, ValidationFailed
from server.reference import places
from tests.builders import make_district


class DistrictForm(BaseModel):
    code: str
    name: str


TYPED = {"code": "371002", "name": "环翠区"}


async def create(data: DistrictForm) -> District:
    return await places.create_district(**data.model_dump())


async def test_what_was_read_is_done_in_one_transaction(api):
    district = await attempt(TYPED, DistrictForm, create)
    assert isinstance(district, District) and district.code == "371002"


async def test_a_form_that_fails_to_read_comes_back_as_typed_and_nothing_is_done(api):
    refused = await attempt({"code": "371002"}, DistrictForm, create)
    assert refused == Refused(Form({"code": "371002"}, {"name": "请填写此项"}), 422)
    assert not await District.exists(code="371002")


async def test_a_refusal_of_the_service_is_undone_and_said_beside_its_field(api):
    async def create_then_refuse(data: DistrictForm) -> None:
        await create(data)
        raise ValidationFailed("名称不符合规范", details=[{"field": "name", "type": "invalid"}])

    refused = await attempt(TYPED, DistrictForm, create_then_refuse)
    assert refused == Refused(Form(TYPED, {"name": "名称不符合规范"}), 400)
    assert not await District.exists(code="371002")
    # An error that knows its field without naming it: placed by the caller's map, with its status.
    await make_district(code="371002")
    refused = await attempt(TYPED, DistrictForm, create, field_of={places.DistrictCodeTaken: "code"})
    assert refused == Refused(Form(TYPED, {"code": "区市编码已存在"}), 409)


async def test_refusals_that_are_not_the_forms_reach_the_page(api):
    async def missing(data: DistrictForm) -> None:
        raise NotFound("区市不存在")

    with pytest.raises(NotFound):
        await attempt(TYPED, DistrictForm, missing)
    # Unless the ids the service looks up were typed in the form: then it is the form's to say.
    refused = await attempt(TYPED, DistrictForm, missing, refusal=any_refusal)
    assert refused == Refused(Form(TYPED, {"": "区市不存在"}), 404)
    await make_district(code="371002")
    with pytest.raises(places.DistrictCodeTaken):
        await attempt(TYPED, DistrictForm, create, refusal=only())


async def test_a_reader_may_be_async_and_its_form_names_the_fields(api):
    async def read(values: dict) -> DistrictForm:
        return DistrictForm.model_validate(values)

    async def refuse(data: DistrictForm) -> None:
        raise ValidationFailed("编码有误", details=[{"field": "code", "type": "invalid"}])

    assert (await attempt(TYPED, read, create)).code == "371002"
    assert (await attempt(TYPED, read, refuse)).form.errors == {"": "编码有误"}  # fields unknown: at the top
    assert (await attempt(TYPED, read, refuse, fields=DistrictForm)).form.errors == {"code": "编码有误"}
