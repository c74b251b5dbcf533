#!/usr/bin/env python3
"""Warble over REST with nothing but Python's standard library.

    python3 warble_flow.py http://127.0.0.1:3000

Two new users sign up and log in; Ada posts three times, Bob follows her and pages through his
timeline, reads her profile; Ada deletes a post (gone from Bob's timeline) and restores it (back);
Bob refreshes his token, logs out, and his refresh token stops working; an invalid post answers
400 with the field problems. One line per step; the first surprise stops the run (exit 1) with the
status and body that caused it. test/rest-clients.test.ts runs it against a test server.
"""

import json
import secrets
import sys
import urllib.error
import urllib.parse
import urllib.request

PASSWORD = "correct horse battery"


class Surprise(Exception):
    """An answer the flow did not expect."""


def make_call(base_url):
    """A call() for the REST routes of the Warble server at base_url."""
    api = base_url.rstrip("/") + "/api"

    def call(method, path, body=None, token=None):
        """One REST call: (status, parsed JSON body). Error statuses are answers too, not exceptions."""
        headers = {"Accept": "application/json"}
        data = None
        if body is not None:
            data = json.dumps(body).encode("utf-8")
            headers["Content-Type"] = "application/json"
        if token is not None:
            headers["Authorization"] = "Bearer " + token
        request = urllib.request.Request(api + path, data=data, method=method, headers=headers)
        try:
            with urllib.request.urlopen(request, timeout=30) as response:
                return response.status, read_json(response)
        except urllib.error.HTTPError as error:
            # 4xx and 5xx land here; their body is still the API's JSON ({message, code, issues?}).
            return error.code, read_json(error)

    return call


def read_json(response):
    """The body as JSON; as text if it is not JSON (so a surprise can show it)."""
    text = response.read().decode("utf-8")
    try:
        return json.loads(text) if text else None
    except ValueError:
        return text


def expect(what, answer, status=200, check=lambda body: True):
    """The body of a call's answer if it has the expected status and passes check; else a Surprise."""
    got_status, body = answer
    try:
        passed = got_status == status and check(body)
    except (KeyError, TypeError, IndexError):
        passed = False  # a field the check reads is missing or of another type
    if not passed:
        raise Surprise("%s: expected %d, got %d with body %s" % (what, status, got_status, json.dumps(body)))
    return body


def step(line):
    print("ok " + line, flush=True)


def is_rest_error(body, code):
    """Whether body is the REST error shape, {message, code, issues?}, with this code."""
    return (
        isinstance(body, dict)
        and set(body) <= {"message", "code", "issues", "reason"}
        and isinstance(body.get("message"), str)
        and body.get("code") == code
    )


def run(base_url):
    call = make_call(base_url)
    suffix = secrets.token_hex(4)
    ada, bob = "ada_" + suffix, "bob_" + suffix

    # Sign up and log in.
    for username in (ada, bob):
        credentials = {"username": username, "password": PASSWORD}
        answer = call("POST", "/auth/signup", credentials)
        account = expect("signup", answer, check=lambda b: b["username"] == username)
        step("signup: %s (id %s)" % (username, account["id"]))
    tokens = {}
    for username in (ada, bob):
        credentials = {"username": username, "password": PASSWORD}
        answer = call("POST", "/auth/login", credentials)
        pair = tokens[username] = expect("login", answer, check=lambda b: b["tokenType"] == "Bearer")
        step("login: %s, access token valid for %d s" % (username, pair["expiresIn"]))
    ada_token = tokens[ada]["accessToken"]
    bob_token = tokens[bob]["accessToken"]

    # Ada posts three times; Bob follows her.
    posts = []
    for text in ("First post from Python", "Second post", "Third post"):
        answer = call("POST", "/posts", {"body": text}, token=ada_token)
        posts.append(expect("post", answer, check=lambda b: b["body"] == text))
    step("post: %s wrote %d posts" % (ada, len(posts)))
    followed = call("PUT", "/users/%s/follow" % urllib.parse.quote(ada), token=bob_token)
    expect("follow", followed, check=lambda b: b == {"following": True})
    step("follow: %s follows %s" % (bob, ada))

    # Bob's timeline, newest first, two posts a page: the second page is where the first one's
    # nextCursor says, and the last page's nextCursor is null.
    newest_first = [post["id"] for post in reversed(posts)]

    def timeline_page(cursor=None):
        query = {"limit": 2} if cursor is None else {"limit": 2, "cursor": cursor}
        return call("GET", "/timeline?" + urllib.parse.urlencode(query), token=bob_token)

    def ids_of(page):
        return [post["id"] for post in page["items"]]

    first = expect("timeline page 1", timeline_page(), check=lambda b: ids_of(b) == newest_first[:2])
    step("timeline page 1: %d posts, then cursor %s" % (len(first["items"]), first["nextCursor"]))
    second = expect(
        "timeline page 2",
        timeline_page(first["nextCursor"]),
        check=lambda b: ids_of(b) == newest_first[2:] and b["nextCursor"] is None,
    )
    step("timeline page 2: %d post, the last page" % len(second["items"]))

    # Ada's profile as Bob sees it.
    profile = expect(
        "profile",
        call("GET", "/users/%s" % urllib.parse.quote(ada), token=bob_token),
        check=lambda b: (b["followersCount"], b["postsCount"], b["followedByMe"]) == (1, 3, True),
    )
    step("profile: %s has %d follower, %d posts" % (ada, profile["followersCount"], profile["postsCount"]))

    # Ada deletes her newest post: gone (404, and not on Bob's timeline); she restores it: back.
    newest = posts[-1]
    post_path = "/posts/%s" % newest["id"]
    expect("delete", call("DELETE", post_path, token=ada_token), check=lambda b: b["id"] == newest["id"])
    gone = call("GET", post_path)
    expect("read the deleted post", gone, 404, check=lambda b: is_rest_error(b, "NOT_FOUND"))
    expect("timeline after delete", timeline_page(), check=lambda b: ids_of(b) == newest_first[1:])
    step("delete: the post answers 404 and is gone from the timeline")
    expect("restore", call("POST", post_path + "/restore", token=ada_token), check=lambda b: b == newest)
    expect("timeline after restore", timeline_page(), check=lambda b: ids_of(b) == newest_first[:2])
    step("restore: the post is back at the top of the timeline")

    # Bob refreshes: a new token pair, and the new access token works.
    refreshed = call("POST", "/auth/refresh", {"refreshToken": tokens[bob]["refreshToken"]})
    renewed = expect("refresh", refreshed, check=lambda b: b["accessToken"] != bob_token)
    me_answer = call("GET", "/me", token=renewed["accessToken"])
    me = expect("GET /me with the new token", me_answer, check=lambda b: b["username"] == bob)
    step("refresh: new tokens, GET /me answers %s" % me["username"])

    # Bob logs out: his refresh token no longer works.
    logout = call("POST", "/auth/logout", {"refreshToken": renewed["refreshToken"]})
    expect("logout", logout, check=lambda b: b == {"ok": True})
    refused = call("POST", "/auth/refresh", {"refreshToken": renewed["refreshToken"]})
    error = expect("refresh after logout", refused, 401, check=lambda b: is_rest_error(b, "UNAUTHORIZED"))
    step("logout: the refresh token is refused (401 %s)" % error["code"])

    # An invalid input: 400, and `issues` names the field.
    invalid = call("POST", "/posts", {"body": ""}, token=ada_token)
    error = expect(
        "invalid post",
        invalid,
        400,
        check=lambda b: is_rest_error(b, "BAD_REQUEST") and ["body"] in [i["path"] for i in b["issues"]],
    )
    step("invalid input: 400 %s, issues at %s" % (error["code"], [i["path"] for i in error["issues"]]))


def main():
    if len(sys.argv) != 2:
        print("usage: %s BASE_URL   (e.g. http://127.0.0.1:3000)" % sys.argv[0], file=sys.stderr)
        return 2
    try:
        run(sys.argv[1])
    except Surprise as surprise:
        print("FAILED " + str(surprise), file=sys.stderr)
        return 1
    except urllib.error.URLError as error:
        print("FAILED cannot reach %s: %s" % (sys.argv[1], error.reason), file=sys.stderr)
        return 1
    print("done: the whole flow works over REST")
    return 0


if __name__ == "__main__":
    sys.exit(main())
