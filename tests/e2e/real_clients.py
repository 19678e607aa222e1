"""Drives a running ringnova with the real OpenStack clients: python-novaclient and
openstacksdk, as `admin:admin` and `demo:demo` (noauth2 tokens).

Covers flavors (list, detail, show, create, delete, description update, extra specs, access),
key pairs (import, generate, list, show, delete), limits and quota sets (show, detail,
defaults, update, revert), and servers (boot, list, show, reboot, stop/start,
resize/confirm, delete), waiting for states as a user would. Every check is counted; the last line printed is
`N passed, N failed` and the exit status is 1 when anything failed.

Usage: python real_clients.py http://127.0.0.1:PORT
"""

import sys
import traceback
import uuid

from keystoneauth1 import session as ks_session
from keystoneauth1 import token_endpoint
from novaclient import client as nova_client
from novaclient import exceptions as nova_exc
import openstack
from openstack import exceptions as sdk_exc

BASE = sys.argv[1].rstrip("/")
ENDPOINT = BASE + "/v2.1"
# An ed25519 public key (its fingerprint below is MD5 of the decoded blob, as Nova
# computes it).
PUBLIC_KEY = (
    "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIHB0iJbMHpTPbDzBXf3XEbvlnMS0eFqO/sV3TY5mODRn e2e"
)

# The image ringnova seeds by default, and how long a state may take to arrive.
IMAGE = "70a599e0-31e7-49b7-b260-868f441e862b"
STATE_TIMEOUT = 60

passed = 0
failed = 0


def wait_until(what, probe, timeout=STATE_TIMEOUT):
    """Polls `probe()` until it returns a true value; returns it."""
    import time

    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        last = probe()
        if last:
            return last
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what} (last: {last!r})")


def check(name, fn):
    """Runs one named check; any exception or false assertion fails it."""
    global passed, failed
    try:
        fn()
    except Exception:  # noqa: BLE001 - every failure is reported, none stops the run
        failed += 1
        print(f"FAIL {name}")
        traceback.print_exc(limit=3, file=sys.stdout)
    else:
        passed += 1
        print(f"ok   {name}")


def expect_error(kind, fn, *exc_types):
    """`fn` must raise one of `exc_types`; returns the exception."""
    try:
        fn()
    except exc_types as err:
        return err
    raise AssertionError(f"{kind}: no error raised")


def fingerprint(public_key):
    import base64
    import hashlib

    blob = base64.b64decode(public_key.split()[1])
    digest = hashlib.md5(blob).hexdigest()
    return ":".join(digest[i : i + 2] for i in range(0, len(digest), 2))


def nova(token, version):
    auth = token_endpoint.Token(endpoint=ENDPOINT, token=token)
    return nova_client.Client(version, session=ks_session.Session(auth=auth))


def sdk(token):
    return openstack.connect(
        auth_type="admin_token",
        auth={"endpoint": ENDPOINT, "token": token},
        compute_endpoint_override=ENDPOINT,
        compute_api_version="2",
    )


# ------------------------------------------------------------------ novaclient
def novaclient_checks():
    admin = nova("admin:admin", "2.60")
    admin21 = nova("admin:admin", "2.1")
    demo = nova("demo:demo", "2.60")
    suffix = uuid.uuid4().hex[:8]
    state = {}

    def flavor_list():
        names = {f.name for f in admin.flavors.list()}
        assert {"m1.tiny", "m1.small", "m1.medium", "m1.large", "m1.xlarge"} <= names, names
        detail = {f.name: f for f in admin.flavors.list(detailed=True)}
        tiny = detail["m1.tiny"]
        assert (tiny.ram, tiny.vcpus, tiny.disk) == (512, 1, 1), tiny.to_dict()
        assert tiny.is_public is True

    def flavor_show_v21():
        tiny = admin21.flavors.get("1")
        assert tiny.name == "m1.tiny" and tiny.swap == "", tiny.to_dict()

    def flavor_filters():
        big = admin.flavors.list(min_ram=4096)
        assert big and all(f.ram >= 4096 for f in big), [f.ram for f in big]
        page = admin.flavors.list(limit=2)
        assert len(page) == 2, page
        rest = admin.flavors.list(marker=page[-1].id)
        assert page[-1].id not in {f.id for f in rest}

    def flavor_create():
        flavor = admin.flavors.create(
            f"e2e-nova-{suffix}", 1024, 2, 10, flavorid="auto", ephemeral=1, swap=512,
            is_public=False, description="made by novaclient",
        )
        state["flavor"] = flavor
        assert flavor.ram == 1024 and flavor.vcpus == 2 and flavor.disk == 10
        assert flavor.description == "made by novaclient"
        assert flavor.is_public is False
        again = admin.flavors.get(flavor.id)
        assert again.name == f"e2e-nova-{suffix}" and again.swap == 512

    def flavor_duplicate():
        expect_error(
            "duplicate flavor",
            lambda: admin.flavors.create(f"e2e-nova-{suffix}", 512, 1, 1),
            nova_exc.Conflict,
        )

    def flavor_update_description():
        updated = admin.flavors.update(state["flavor"].id, "new words")
        assert updated.description == "new words"

    def flavor_extra_specs():
        flavor = admin.flavors.get(state["flavor"].id)
        flavor.set_keys({"hw:cpu_policy": "dedicated", "e2e:n": "1"})
        keys = flavor.get_keys()
        assert keys == {"hw:cpu_policy": "dedicated", "e2e:n": "1"}, keys
        flavor.unset_keys(["e2e:n"])
        assert admin.flavors.get(flavor.id).get_keys() == {"hw:cpu_policy": "dedicated"}

    def flavor_access():
        flavor_id = state["flavor"].id
        admin.flavor_access.add_tenant_access(flavor_id, "demo")
        tenants = {a.tenant_id for a in admin.flavor_access.list(flavor=flavor_id)}
        assert "demo" in tenants, tenants
        assert flavor_id in {f.id for f in demo.flavors.list()}
        admin.flavor_access.remove_tenant_access(flavor_id, "demo")
        expect_error("private flavor hidden", lambda: demo.flavors.get(flavor_id),
                     nova_exc.NotFound)

    def flavor_policy():
        expect_error(
            "demo creates a flavor",
            lambda: demo.flavors.create(f"e2e-demo-{suffix}", 512, 1, 1),
            nova_exc.Forbidden,
        )

    def flavor_delete():
        admin.flavors.delete(state["flavor"].id)
        expect_error("deleted flavor", lambda: admin.flavors.get(state["flavor"].id),
                     nova_exc.NotFound)

    def keypair_import_and_generate():
        name = f"e2e-nova-{suffix}"
        kp = demo.keypairs.create(name, public_key=PUBLIC_KEY)
        assert kp.fingerprint == fingerprint(PUBLIC_KEY), kp.fingerprint
        assert kp.type == "ssh"
        generated = demo.keypairs.create(name + "-gen")
        assert generated.private_key and generated.public_key, generated.to_dict()
        names = {k.name for k in demo.keypairs.list()}
        assert {name, name + "-gen"} <= names, names
        shown = demo.keypairs.get(name)
        assert shown.public_key == PUBLIC_KEY
        expect_error("duplicate key pair",
                     lambda: demo.keypairs.create(name, public_key=PUBLIC_KEY),
                     nova_exc.Conflict)
        # Key pairs belong to their user.
        expect_error("other user's key pair", lambda: admin.keypairs.get(name),
                     nova_exc.NotFound)
        demo.keypairs.delete(name)
        demo.keypairs.delete(name + "-gen")
        expect_error("deleted key pair", lambda: demo.keypairs.get(name), nova_exc.NotFound)

    def limits():
        absolute = {l.name: l.value for l in demo.limits.get().absolute}
        assert absolute["maxTotalInstances"] == 10, absolute
        assert absolute["maxTotalCores"] == 20
        assert absolute["maxTotalKeypairs"] == 100
        assert "maxPersonality" not in absolute  # gone at 2.57

    def quotas():
        project = f"e2eproj{suffix}"
        shown = admin.quotas.get(project)
        assert shown.instances == 10 and shown.key_pairs == 100, shown.to_dict()
        defaults = admin.quotas.defaults(project)
        assert defaults.cores == 20
        admin.quotas.update(project, instances=7, cores=9)
        shown = admin.quotas.get(project)
        assert (shown.instances, shown.cores) == (7, 9), shown.to_dict()
        detail = admin.quotas.get(project, detail=True)
        assert detail.instances == {"in_use": 0, "limit": 7, "reserved": 0}, detail.to_dict()
        expect_error("demo updates quotas",
                     lambda: demo.quotas.update("demo", instances=1000),
                     nova_exc.Forbidden)
        admin.quotas.delete(project)
        assert admin.quotas.get(project).instances == 10

    def nova_settled(server_id, status):
        def probe():
            server = demo.servers.get(server_id)
            task = getattr(server, "OS-EXT-STS:task_state", None)
            return server if server.status == status and task is None else None

        return wait_until(f"server {server_id} {status}", probe)

    def servers():
        name = f"e2e-nova-{suffix}"
        server = demo.servers.create(name, IMAGE, "1", nics="none")
        assert server.id and getattr(server, "adminPass", None), server.to_dict()
        active = nova_settled(server.id, "ACTIVE")
        assert active.name == name and active.flavor["original_name"] == "m1.tiny", active.flavor
        assert server.id in {s.id for s in demo.servers.list()}
        assert server.id not in {s.id for s in nova("other:other", "2.60").servers.list()}
        demo.servers.reboot(server.id)
        nova_settled(server.id, "ACTIVE")
        demo.servers.stop(server.id)
        nova_settled(server.id, "SHUTOFF")
        demo.servers.start(server.id)
        nova_settled(server.id, "ACTIVE")
        demo.servers.resize(server.id, "2")
        nova_settled(server.id, "VERIFY_RESIZE")
        demo.servers.confirm_resize(server.id)
        resized = nova_settled(server.id, "ACTIVE")
        assert resized.flavor["original_name"] == "m1.small", resized.flavor
        demo.servers.delete(server.id)

        def gone():
            try:
                demo.servers.get(server.id)
            except nova_exc.NotFound:
                return True
            return False

        wait_until("server deleted", gone)

    for name, fn in [
        ("novaclient flavor list/detail", flavor_list),
        ("novaclient flavor show at 2.1", flavor_show_v21),
        ("novaclient flavor filters and paging", flavor_filters),
        ("novaclient flavor create (private, description)", flavor_create),
        ("novaclient flavor duplicate -> 409", flavor_duplicate),
        ("novaclient flavor description update", flavor_update_description),
        ("novaclient flavor extra specs", flavor_extra_specs),
        ("novaclient flavor access", flavor_access),
        ("novaclient flavor create as demo -> 403", flavor_policy),
        ("novaclient flavor delete", flavor_delete),
        ("novaclient key pairs", keypair_import_and_generate),
        ("novaclient limits", limits),
        ("novaclient quota sets", quotas),
        ("novaclient servers: boot, reboot, stop/start, resize/confirm, delete", servers),
    ]:
        check(name, fn)


# ------------------------------------------------------------------ openstacksdk
def sdk_checks():
    admin = sdk("admin:admin")
    demo = sdk("demo:demo")
    suffix = uuid.uuid4().hex[:8]
    state = {}

    def flavors():
        names = {f.name for f in admin.compute.flavors()}
        assert "m1.small" in names, names
        small = admin.compute.find_flavor("m1.small")
        assert small.ram == 2048 and small.vcpus == 1 and small.disk == 20, small
        assert admin.compute.get_flavor("2").name == "m1.small"

    def flavor_create():
        flavor = admin.compute.create_flavor(
            name=f"e2e-sdk-{suffix}", ram=256, vcpus=1, disk=0, is_public=False,
            description="sdk",
        )
        state["flavor"] = flavor
        assert flavor.ram == 256 and flavor.is_public is False
        assert flavor.description == "sdk"

    def flavor_specs_and_access():
        flavor = state["flavor"]
        admin.compute.create_flavor_extra_specs(flavor, {"sdk:a": "1", "sdk:b": "2"})
        specs = admin.compute.fetch_flavor_extra_specs(flavor).extra_specs
        assert specs == {"sdk:a": "1", "sdk:b": "2"}, specs
        assert admin.compute.get_flavor_extra_specs_property(flavor, "sdk:a") == "1"
        admin.compute.update_flavor_extra_specs_property(flavor, "sdk:a", "9")
        assert admin.compute.get_flavor_extra_specs_property(flavor, "sdk:a") == "9"
        admin.compute.delete_flavor_extra_specs_property(flavor, "sdk:b")
        specs = admin.compute.fetch_flavor_extra_specs(flavor).extra_specs
        assert specs == {"sdk:a": "9"}, specs
        admin.compute.flavor_add_tenant_access(flavor, "demo")
        access = admin.compute.get_flavor_access(flavor)
        # Nova does not give the creating project access to a private flavor.
        assert {a["tenant_id"] for a in access} == {"demo"}, access
        assert demo.compute.get_flavor(flavor.id).name == flavor.name
        admin.compute.flavor_remove_tenant_access(flavor, "demo")
        expect_error("private flavor hidden", lambda: demo.compute.get_flavor(flavor.id),
                     sdk_exc.NotFoundException)

    def flavor_delete():
        admin.compute.delete_flavor(state["flavor"], ignore_missing=False)
        assert admin.compute.find_flavor(state["flavor"].id, ignore_missing=True) is None

    def flavor_policy():
        expect_error("demo creates a flavor",
                     lambda: demo.compute.create_flavor(name="x", ram=1, vcpus=1, disk=0),
                     sdk_exc.ForbiddenException)

    def keypairs():
        name = f"e2e-sdk-{suffix}"
        kp = demo.compute.create_keypair(name=name, public_key=PUBLIC_KEY)
        assert kp.fingerprint == fingerprint(PUBLIC_KEY)
        assert name in {k.name for k in demo.compute.keypairs()}
        assert demo.compute.get_keypair(name).public_key == PUBLIC_KEY
        demo.compute.delete_keypair(name, ignore_missing=False)
        expect_error("deleted key pair", lambda: demo.compute.get_keypair(name),
                     sdk_exc.NotFoundException)

    def limits():
        absolute = demo.compute.get_limits().absolute
        assert absolute.instances == 10 and absolute.total_cores == 20, absolute
        assert absolute.keypairs == 100

    def quotas():
        project = f"e2esdk{suffix}"
        quota = admin.compute.get_quota_set(project)
        assert quota.instances == 10 and quota.ram == 51200, quota
        defaults = admin.compute.get_quota_set_defaults(project)
        assert defaults.cores == 20
        admin.compute.update_quota_set(project, instances=3)
        assert admin.compute.get_quota_set(project).instances == 3
        usage = admin.compute.get_quota_set(project, usage=True)
        assert usage.usage["instances"] == 0 and usage.instances == 3, usage
        admin.compute.revert_quota_set(project)
        assert admin.compute.get_quota_set(project).instances == 10

    def sdk_settled(server_id, status):
        def probe():
            server = demo.compute.get_server(server_id)
            return server if server.status == status and server.task_state is None else None

        return wait_until(f"server {server_id} {status}", probe)

    def servers():
        server = demo.compute.create_server(
            name=f"e2e-sdk-{suffix}", image_id=IMAGE, flavor_id="1", networks="none"
        )
        sdk_settled(server.id, "ACTIVE")
        assert server.id in {s.id for s in demo.compute.servers()}
        demo.compute.reboot_server(server, "HARD")
        sdk_settled(server.id, "ACTIVE")
        demo.compute.stop_server(server)
        sdk_settled(server.id, "SHUTOFF")
        demo.compute.start_server(server)
        sdk_settled(server.id, "ACTIVE")
        demo.compute.resize_server(server, "2")
        sdk_settled(server.id, "VERIFY_RESIZE")
        demo.compute.confirm_server_resize(server)
        sdk_settled(server.id, "ACTIVE")
        demo.compute.delete_server(server)
        demo.compute.wait_for_delete(server, wait=STATE_TIMEOUT)

    for name, fn in [
        ("openstacksdk flavors", flavors),
        ("openstacksdk flavor create", flavor_create),
        ("openstacksdk flavor extra specs and access", flavor_specs_and_access),
        ("openstacksdk flavor delete", flavor_delete),
        ("openstacksdk flavor create as demo -> 403", flavor_policy),
        ("openstacksdk key pairs", keypairs),
        ("openstacksdk limits", limits),
        ("openstacksdk quota sets", quotas),
        ("openstacksdk servers: boot, reboot, stop/start, resize/confirm, delete", servers),
    ]:
        check(name, fn)


def main():
    novaclient_checks()
    sdk_checks()
    print(f"{passed} passed, {failed} failed")
    return 1 if failed or not passed else 0


if __name__ == "__main__":
    sys.exit(main())
