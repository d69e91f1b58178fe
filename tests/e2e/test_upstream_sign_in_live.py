"""Signing in with another provider (issue 16): a second auth service on 127.0.0.1 is the
upstream of ours on localhost. Real processes, real redirects, the real CLI; each test signs in
as its own upstream person, so the tests share only the processes."""

from __future__ import annotations

import asyncio
import re
import sqlite3
import subprocess
from collections.abc import Iterator
from datetime import UTC, datetime
from urllib.parse import parse_qs, urlsplit

import httpx
import pyotp
import pytest
from sqlmodel import col
from sqlmodel import update as sa_update

from auth_service.security.secret_box import SecretBox
from shared.database import make_engine
from shared.models import AuditEvent, UpstreamLink, UpstreamProvider, User, UserSession
from shared.models.users import NO_PASSWORD
from tests.support.live import BIN, rows
from tests.support.upstream import (
    OUR_PASSWORD,
    PLAIN,
    PROVIDER,
    TRUSTED,
    Brokered,
    Person,
    brokered_stacks,
    path_of,
)

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def stacks(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Brokered]:
    with brokered_stacks(tmp_path_factory.mktemp("brokering")) as brokered:
        yield brokered


@pytest.fixture
def person(stacks: Brokered) -> Iterator[Person]:
    with Person(stacks) as browser:
        yield browser


def upstream_id(stacks: Brokered, username: str) -> str:
    return next(u.id for u in rows(stacks.upstream, User) if u.username == username)


def our_user(stacks: Brokered, email: str) -> User | None:
    return next((u for u in rows(stacks.ours, User) if u.email == email), None)


def links_of(stacks: Brokered, user_id: str) -> list[UpstreamLink]:
    return [link for link in rows(stacks.ours, UpstreamLink) if link.user_id == user_id]


def test_the_cli_stores_each_provider_sealed_and_the_login_page_offers_each(
    stacks: Brokered, person: Person
) -> None:
    listed = stacks.ours.cli("upstreams", "list", AUTH_ISSUER=stacks.ours.issuer)
    stored = {p.id: p for p in rows(stacks.ours, UpstreamProvider)}
    page = person.get("/login")

    assert [p["id"] for p in listed] == [PLAIN, TRUSTED, PROVIDER]  # by name
    assert listed[2]["redirect_uri"] == f"{stacks.ours.issuer}/login/upstream/{PROVIDER}/callback"
    assert (stored[PROVIDER].kind, stored[PLAIN].kind) == ("oidc", "oauth2")
    assert stored[TRUSTED].trusted and not stored[PROVIDER].trusted
    assert "upstream-pass" not in stored[PROVIDER].client_secret_encrypted
    for name in ("Upstream ID", "Trusted ID", "Plain ID"):
        assert f"Sign in with {name}" in page.text


def test_the_start_asks_the_upstream_for_a_code_with_pkce_state_and_nonce(
    person: Person, stacks: Brokered
) -> None:
    response = person.start()
    query = parse_qs(urlsplit(response.headers["location"]).query)

    assert query["response_type"] == ["code"] and query["client_id"] == [stacks.client_id]
    assert query["code_challenge_method"] == ["S256"] and len(query["code_challenge"][0]) == 43
    assert len(query["state"][0]) >= 22 and len(query["nonce"][0]) >= 22
    assert query["redirect_uri"] == [f"{stacks.ours.issuer}/login/upstream/{PROVIDER}/callback"]
    assert "myauth_upstream=" in response.headers["set-cookie"]
    assert "HttpOnly" in response.headers["set-cookie"]


def test_a_first_sign_in_makes_a_linked_account_without_a_password(
    stacks: Brokered, person: Person
) -> None:
    stacks.upstream_user("ada", "ada@example.com")

    response = person.sign_in_through("ada")
    account = person.get("/account")

    assert (response.status_code, response.headers["location"]) == (303, "/")
    assert account.status_code == 200 and "ada@example.com" in account.text
    assert "You have no password" in account.text
    user = our_user(stacks, "ada@example.com")
    assert user is not None and user.username == "ada" and user.password_hash == NO_PASSWORD
    assert not user.email_verified  # an untrusted upstream's word proves no address
    (link,) = links_of(stacks, user.id)
    assert (link.provider_id, link.subject) == (PROVIDER, upstream_id(stacks, "ada"))


def test_the_next_sign_in_finds_the_link_and_makes_no_second_account(stacks: Brokered) -> None:
    stacks.upstream_user("ben", "ben@example.com")
    with Person(stacks) as first:
        first.sign_in_through("ben")
    with Person(stacks) as again:
        response = again.sign_in_through("ben")
        account = again.get("/account")

    assert response.status_code == 303 and "ben@example.com" in account.text
    assert [u.username for u in rows(stacks.ours, User)].count("ben") == 1
    user = our_user(stacks, "ben@example.com")
    assert user is not None
    (link,) = links_of(stacks, user.id)
    assert link.last_used_at is not None and link.last_used_at > link.created_at


def test_an_account_with_that_address_links_only_after_its_own_sign_in_and_a_yes(
    stacks: Brokered, person: Person
) -> None:
    stacks.our_user("cleo", "cleo@example.com")
    stacks.upstream_user("cleo-up", "cleo@example.com")
    cleo = our_user(stacks, "cleo@example.com")
    assert cleo is not None

    offered = person.sign_in_through("cleo-up")
    assert offered.status_code == 303
    assert (
        path_of(offered.headers["location"])
        == "/login?next=%2Flogin%2Fupstream%2Flink&notice=upstream-link"
    )
    login = person.get(path_of(offered.headers["location"]))
    assert "An account here has the email address" in login.text
    assert 'value="cleo"' not in login.text  # the page tells nobody whose address it is
    assert links_of(stacks, cleo.id) == []

    signed_in = person.sign_in_with_password("cleo", next_path="/login/upstream/link")
    assert signed_in.headers["location"] == "/login/upstream/link"
    question = person.get("/login/upstream/link")
    assert "Link Upstream ID?" in question.text and "cleo@example.com" in question.text
    assert links_of(stacks, cleo.id) == []
    answered = person.post("/login/upstream/link", question, answer="link")

    assert (answered.status_code, answered.headers["location"]) == (303, "/")
    (link,) = links_of(stacks, cleo.id)
    assert link.subject == upstream_id(stacks, "cleo-up")
    with Person(stacks) as later:  # and from now on the upstream signs her in
        assert later.sign_in_through("cleo-up").headers["location"] == "/"
        assert "cleo@example.com" in later.get("/account").text


def test_not_now_links_nothing(stacks: Brokered, person: Person) -> None:
    stacks.our_user("dora", "dora@example.com")
    stacks.upstream_user("dora-up", "dora@example.com")
    person.sign_in_through("dora-up")
    person.sign_in_with_password("dora", next_path="/login/upstream/link")
    question = person.get("/login/upstream/link")

    answered = person.post("/login/upstream/link", question, answer="skip")

    assert answered.status_code == 303
    dora = our_user(stacks, "dora@example.com")
    assert dora is not None and links_of(stacks, dora.id) == []


def test_signing_in_to_another_account_links_nothing(stacks: Brokered, person: Person) -> None:
    stacks.our_user("emil", "emil@example.com")
    stacks.our_user("fay", "fay@example.com")
    stacks.upstream_user("emil-up", "emil@example.com")
    person.sign_in_through("emil-up")
    person.sign_in_with_password("fay", next_path="/login/upstream/link")

    refused = person.get("/login/upstream/link")

    assert refused.status_code == 400
    assert "another account than the one with the address" in refused.text
    fay = our_user(stacks, "fay@example.com")
    assert fay is not None and links_of(stacks, fay.id) == []
    emil = our_user(stacks, "emil@example.com")
    assert emil is not None and links_of(stacks, emil.id) == []


def test_a_trusted_upstream_with_a_verified_address_links_at_once(
    stacks: Brokered, person: Person
) -> None:
    stacks.our_user("gus", "gus@example.com")
    stacks.upstream_user("gus-up", "gus@example.com")
    verify_upstream_address(stacks, "gus-up")
    set_columns(stacks, "gus", email_verified=True)  # the account proved the address to us

    response = person.sign_in_through("gus-up", TRUSTED)

    assert (response.status_code, response.headers["location"]) == (303, "/")
    gus = our_user(stacks, "gus@example.com")
    assert gus is not None
    assert [(link.provider_id, link.subject) for link in links_of(stacks, gus.id)] == [
        (TRUSTED, upstream_id(stacks, "gus-up"))
    ]


@pytest.mark.parametrize(
    ("name", "upstream_verified"),
    [
        # Someone signed up here with this address and never confirmed it: it may not be theirs.
        ("olga", True),
        # The upstream does not vouch for the address.
        ("hana", False),
    ],
)
def test_a_trusted_upstream_asks_unless_both_sides_proved_the_address(
    stacks: Brokered, person: Person, name: str, upstream_verified: bool
) -> None:
    stacks.our_user(name, f"{name}@example.com")
    stacks.upstream_user(f"{name}-up", f"{name}@example.com")
    if upstream_verified:
        verify_upstream_address(stacks, f"{name}-up")

    response = person.sign_in_through(f"{name}-up", TRUSTED)

    assert "notice=upstream-link" in response.headers["location"]
    ours = our_user(stacks, f"{name}@example.com")
    assert ours is not None and links_of(stacks, ours.id) == []


def test_a_trusted_upstream_does_not_link_to_an_account_another_upstream_signs_in_to(
    stacks: Brokered, person: Person
) -> None:
    # An account made here through the untrusted upstream with this address, later confirmed:
    # the trusted upstream's person must not become a second way into it.
    stacks.upstream_user("quin-a", "quin@example.com")
    with Person(stacks) as maker:
        maker.sign_in_through("quin-a")
    set_columns(stacks, "quin-a", email_verified=True)
    verify_upstream_address(stacks, "quin-a")  # (one upstream plays both here)

    response = person.sign_in_through("quin-a", TRUSTED)

    assert "notice=upstream-link" in response.headers["location"]
    quin = our_user(stacks, "quin@example.com")
    assert quin is not None
    assert [link.provider_id for link in links_of(stacks, quin.id)] == [PROVIDER]


def test_plain_oauth2_with_a_userinfo_url_signs_in_too(stacks: Brokered, person: Person) -> None:
    stacks.upstream_user("ivo", "ivo@example.com")

    response = person.sign_in_through("ivo", PLAIN)

    assert response.status_code == 303 and response.headers["location"] == "/"
    ivo = our_user(stacks, "ivo@example.com")
    assert ivo is not None
    assert [(link.provider_id, link.subject) for link in links_of(stacks, ivo.id)] == [
        (PLAIN, upstream_id(stacks, "ivo"))
    ]


def test_a_callback_with_another_state_is_refused_and_makes_nothing(
    stacks: Brokered, person: Person
) -> None:
    stacks.upstream_user("jon", "jon@example.com")
    callback = person.at_upstream(person.start(), "jon")
    forged = re.sub(r"state=[^&]+", "state=forged", callback)

    refused = person.back(forged)
    replayed_elsewhere = httpx.get(callback)  # another browser, without the flow cookie

    assert (
        refused.status_code == 400
        and "has expired or was started in another browser" in refused.text
    )
    assert replayed_elsewhere.status_code == 400
    assert our_user(stacks, "jon@example.com") is None
    events = [e.event for e in rows(stacks.ours, AuditEvent)]
    assert "upstream_login_failed" in events


def test_saying_no_at_the_upstream_comes_back_to_our_login_page(
    stacks: Brokered, person: Person
) -> None:
    stacks.upstream_user("kim", "kim@example.com")
    callback = person.at_upstream(person.start(), "kim", allow=False)

    response = person.back(callback)

    assert "error=access_denied" in callback
    assert response.status_code == 303 and response.headers["location"].startswith("/login?")
    assert our_user(stacks, "kim@example.com") is None


def test_the_only_way_in_cannot_be_removed_but_a_second_one_can(
    stacks: Brokered, person: Person
) -> None:
    stacks.upstream_user("lea", "lea@example.com")
    person.sign_in_through("lea")
    lea = our_user(stacks, "lea@example.com")
    assert lea is not None
    page = person.get("/account/providers")
    assert "Upstream ID" in page.text and "Link Plain ID" in page.text

    refused = person.post("/account/providers/remove", page, provider_id=PROVIDER)
    assert refused.status_code == 400 and "only way you can sign in" in refused.text
    assert len(links_of(stacks, lea.id)) == 1

    # Linking a second provider from the account page, then removing the first.
    started = person.post("/account/providers/link", page, provider_id=PLAIN)
    assert started.status_code == 303
    linked = person.back(person.at_upstream(started, "lea"))
    assert (linked.status_code, linked.headers["location"]) == (
        303,
        "/account/providers?message=linked",
    )
    assert {link.provider_id for link in links_of(stacks, lea.id)} == {PROVIDER, PLAIN}
    page = person.get("/account/providers")
    removed = person.post("/account/providers/remove", page, provider_id=PROVIDER)

    assert removed.status_code == 303
    assert [link.provider_id for link in links_of(stacks, lea.id)] == [PLAIN]


def test_linking_from_the_account_page_asks_for_the_password(
    stacks: Brokered, person: Person
) -> None:
    stacks.our_user("rey", "rey@example.com")
    stacks.upstream_user("rey-up", "rey-elsewhere@example.com")
    person.sign_in_with_password("rey")
    page = person.get("/account/providers")
    rey = our_user(stacks, "rey@example.com")
    assert rey is not None

    refused = person.post(
        "/account/providers/link", page, provider_id=PROVIDER, current_password="not-it-at-all"
    )
    assert refused.status_code == 400 and "Your password is not right." in refused.text
    started = person.post(
        "/account/providers/link", page, provider_id=PROVIDER, current_password=OUR_PASSWORD
    )
    assert started.status_code == 303
    linked = person.back(person.at_upstream(started, "rey-up"))

    assert linked.headers["location"] == "/account/providers?message=linked"
    assert [(link.provider_id, link.label) for link in links_of(stacks, rey.id)] == [
        (PROVIDER, "rey-elsewhere@example.com")
    ]


def test_a_link_started_by_one_session_is_not_taken_by_another(stacks: Brokered) -> None:
    stacks.our_user("sia", "sia@example.com")
    stacks.upstream_user("sia-up", "sia-other@example.com")
    with Person(stacks) as person:
        person.sign_in_with_password("sia")
        page = person.get("/account/providers")
        started = person.post(
            "/account/providers/link", page, provider_id=PROVIDER, current_password=OUR_PASSWORD
        )
        callback = person.at_upstream(started, "sia-up")
        person.sign_in_with_password("sia")  # a new session in the same browser

        refused = person.back(callback)

    assert refused.status_code == 400
    sia = our_user(stacks, "sia@example.com")
    assert sia is not None and links_of(stacks, sia.id) == []


def test_a_person_with_a_password_removes_a_link(stacks: Brokered, person: Person) -> None:
    stacks.our_user("max", "max@example.com")
    stacks.upstream_user("max-up", "max@example.com")
    person.sign_in_through("max-up")
    person.sign_in_with_password("max", next_path="/login/upstream/link")
    person.post("/login/upstream/link", person.get("/login/upstream/link"), answer="link")
    page = person.get("/account/providers")

    removed = person.post("/account/providers/remove", page, provider_id=PROVIDER)

    assert removed.status_code == 303
    max_ = our_user(stacks, "max@example.com")
    assert max_ is not None and links_of(stacks, max_.id) == []


def test_the_cli_refuses_a_provider_without_an_issuer_or_endpoints(stacks: Brokered) -> None:
    result = subprocess.run(  # noqa: S603 - fixed argv
        [str(BIN / "auth-service"), "upstreams", "create", "--name", "Half", "--client-id", "x",
         "--client-secret", "y", "--token-endpoint", "https://idp.example/token"],
        env=stacks.ours.env(AUTH_ISSUER=stacks.ours.issuer), capture_output=True, text=True,
        timeout=60, check=False,
    )  # fmt: skip

    assert result.returncode == 1
    assert "give --issuer (OpenID Connect), or --authorization-endpoint" in result.stderr
    assert "half" not in {p.id for p in rows(stacks.ours, UpstreamProvider)}


def test_an_account_without_a_password_is_deleted_after_a_fresh_sign_in_with_its_username(
    stacks: Brokered, person: Person
) -> None:
    stacks.upstream_user("noor", "noor@example.com")
    person.sign_in_through("noor")
    noor = our_user(stacks, "noor@example.com")
    assert noor is not None
    page = person.get("/account/delete")
    assert "Your username, <strong>noor</strong>, to confirm" in page.text

    wrong = person.post("/account/delete", page, username="someone")
    assert wrong.status_code == 400 and "Type your username to confirm." in wrong.text
    assert our_user(stacks, "noor@example.com") is not None
    deleted = person.post("/account/delete", page, username="noor")

    assert (deleted.status_code, deleted.headers["location"]) == (303, "/account/deleted")
    assert our_user(stacks, "noor@example.com") is None
    assert links_of(stacks, noor.id) == []
    with Person(stacks) as again:  # the upstream person is new to us again: a new account
        assert again.sign_in_through("noor").headers["location"] == "/"
    renewed = our_user(stacks, "noor@example.com")
    assert renewed is not None and renewed.id != noor.id


def test_an_account_with_a_second_factor_still_asks_for_it_after_the_upstream(
    stacks: Brokered, person: Person
) -> None:
    stacks.our_user("pia", "pia@example.com")
    stacks.upstream_user("pia-up", "pia@example.com")
    secret = pyotp.random_base32()
    sealed = SecretBox.load_or_create(stacks.ours.key_dir).encrypt(secret)
    verify_upstream_address(stacks, "pia-up")
    set_columns(
        stacks, "pia", email_verified=True, totp_secret=sealed, totp_enabled_at=datetime.now(UTC)
    )

    response = person.sign_in_through("pia-up", TRUSTED)  # linked at once: trusted, verified

    assert response.headers["location"].startswith("/login/second-factor?")
    assert person.get("/account").headers.get("location", "").startswith("/login")  # not yet in
    page = person.get(path_of(response.headers["location"]))
    done = person.post(
        "/login/second-factor", page, code=pyotp.TOTP(secret).now(), request_id="", next=""
    )
    assert (done.status_code, done.headers["location"]) == (303, "/")
    assert "pia@example.com" in person.get("/account").text
    pia = our_user(stacks, "pia@example.com")
    assert pia is not None
    (session,) = [s for s in rows(stacks.ours, UserSession) if s.user_id == pia.id]
    assert session.amr == "fed otp" and not session.second_factor_pending


def verify_upstream_address(stacks: Brokered, username: str) -> None:
    with sqlite3.connect(stacks.upstream.database_url.split("///", 1)[1]) as db:
        db.execute("UPDATE user_account SET email_verified = 1 WHERE username = ?", (username,))


def set_columns(stacks: Brokered, username: str, **values: object) -> None:
    """Change our account's row directly (what no page does in one step)."""

    async def update() -> None:
        engine = make_engine(stacks.ours.database_url)
        try:
            async with engine.begin() as connection:
                await connection.execute(
                    sa_update(User).where(col(User.username) == username).values(**values)
                )
        finally:
            await engine.dispose()

    asyncio.run(update())


def test_the_cli_refuses_a_subject_member_a_person_can_change(stacks: Brokered) -> None:
    result = subprocess.run(  # noqa: S603 - fixed argv
        [str(BIN / "auth-service"), "upstreams", "create", "--name", "Loose", "--client-id", "x",
         "--client-secret", "y", "--authorization-endpoint", "https://idp.example/authorize",
         "--token-endpoint", "https://idp.example/token",
         "--userinfo-url", "https://idp.example/user", "--subject-claim", "email"],
        env=stacks.ours.env(AUTH_ISSUER=stacks.ours.issuer), capture_output=True, text=True,
        timeout=60, check=False,
    )  # fmt: skip

    assert result.returncode == 1 and "names something a person can change" in result.stderr
    assert "loose" not in {p.id for p in rows(stacks.ours, UpstreamProvider)}
