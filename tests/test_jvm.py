"""The JVM: after `add`, child JVMs trust the JDK's own roots plus the extras, through JAVA_TOOL_OPTIONS.

Real JVMs (OpenJDK's java, javac and keytool) against the demo server on 127.0.0.1.
The truststore is read back by keytool, the JDK's own reader, never by our code.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

import sly_nb_tls
from sly_nb_tls.clients import java
from sly_nb_tls.demo import DemoServer, issue

from .helpers import JVM_VARIABLE, has_tool, jdk_root_shas, truststore_path, truststore_shas

pytestmark = pytest.mark.skipif(not (has_tool("java") and has_tool("javac")), reason="no JDK here")

_CLIENT = """
import java.net.URL;
import javax.net.ssl.HttpsURLConnection;

public class Fetch {
    public static void main(String[] args) throws Exception {
        System.out.println("KEPT " + System.getProperty("sly.kept"));
        HttpsURLConnection c = (HttpsURLConnection) new URL(args[0]).openConnection();
        try {
            System.out.println("STATUS " + c.getResponseCode());
        } catch (javax.net.ssl.SSLException e) {
            System.out.println("TLS " + e.getMessage());
        }
    }
}
"""


@pytest.fixture(scope="module")
def client(tmp_path_factory: pytest.TempPathFactory) -> str:
    """A javac-compiled HTTPS client: its class path."""
    classes = tmp_path_factory.mktemp("javac")
    (classes / "Fetch.java").write_text(_CLIENT)
    env = {k: v for k, v in os.environ.items() if k != JVM_VARIABLE}
    subprocess.run(["javac", "-d", str(classes), str(classes / "Fetch.java")], check=True, timeout=120, env=env)
    return str(classes)


def fetch(classes: str, url: str) -> tuple[str, str]:
    """Run the client as a child of this process (it inherits os.environ): (STATUS n | TLS error, KEPT value)."""
    done = subprocess.run(["java", "-cp", classes, "Fetch", url], capture_output=True, text=True, timeout=120)
    lines = dict(line.split(" ", 1) for line in done.stdout.splitlines() if " " in line)
    assert "KEPT" in lines, done.stderr  # the JVM started: options it could not parse would stop it
    outcome = "ok" if lines.get("STATUS", "").isdigit() else "cert-fail" if "PKIX" in lines.get("TLS", "") else "?"
    return outcome, lines["KEPT"]


def keytool_fingerprints(*store_args: str) -> list[str]:
    """SHA-256 fingerprints of a keystore's trusted entries, as keytool lists them (one per entry)."""
    env = {k: v for k, v in os.environ.items() if k != JVM_VARIABLE}
    out = subprocess.run(["keytool", "-list", *store_args], capture_output=True, text=True, timeout=120, env=env)
    assert out.returncode == 0, out.stdout + out.stderr
    entries = out.stdout.count("trustedCertEntry")
    found = [m.replace(":", "").lower() for m in re.findall(r"SHA-256\): ([0-9A-F:]+)", out.stdout)]
    assert len(found) == entries > 0, out.stdout
    return found


@pytest.fixture
def spaced_dir(tmp_path: Path) -> Iterator[Path]:
    """The per-user directory with a space in its path: the JVM must still parse our options."""
    directory = tmp_path / "user dir"
    os.environ["SLY_NB_TLS_DIR"] = str(directory)
    yield directory


@pytest.mark.slow  # six JVM starts
@pytest.mark.parametrize("kept", [None, "-Dsly.kept=yes -Xss4m"], ids=["no-options", "user-options"])
def test_a_javac_client_fails_before_add_works_after_and_fails_after_reset(
    ca_env: bool, client: str, demo_server: DemoServer, spaced_dir: Path, kept: str | None
) -> None:
    if kept is not None:
        os.environ[JVM_VARIABLE] = kept
    url = demo_server.url + "/public/api/v3/instance.version"
    assert fetch(client, url) == ("cert-fail", "yes" if kept else "null")
    sly_nb_tls.add_certs(demo_server.root_path)
    value = os.environ[JVM_VARIABLE]
    assert value.startswith(kept or "-D"), value  # the user's own options come first, untouched
    assert f'-Djavax.net.ssl.trustStore="{spaced_dir}/truststore-' in value  # quoted: the JVM splits on spaces
    assert fetch(client, url) == ("ok", "yes" if kept else "null")
    sly_nb_tls.reset()
    assert os.environ.get(JVM_VARIABLE) == kept
    assert fetch(client, url) == ("cert-fail", "yes" if kept else "null")


@pytest.mark.slow  # keytool runs
def test_the_truststore_holds_exactly_the_jdks_roots_plus_the_extras(demo_server: DemoServer) -> None:
    extra = issue("Second Test Root CA", ca=True)
    sly_nb_tls.add_certs(demo_server.root_path, extra.pem)
    store = truststore_path(os.environ[JVM_VARIABLE])
    listed = keytool_fingerprints("-keystore", store, "-storepass", "changeit")
    jdk = keytool_fingerprints("-cacerts", "-storepass", "changeit")
    added = {c.sha256 for c in sly_nb_tls.status().certificates}
    assert len(added) == 2 and not added & set(jdk)
    assert sorted(listed) == sorted({*jdk, *added}) and len(listed) == len(jdk) + 2
    sly_nb_tls.reset()
    assert sorted(keytool_fingerprints("-keystore", store, "-storepass", "changeit")) == sorted(jdk)


def test_the_users_options_survive_add_and_come_back_at_reset() -> None:
    theirs = '-Xss4m -Dsly.note="a b" -Dsly.kept=yes'
    os.environ[JVM_VARIABLE] = theirs
    sly_nb_tls.add_certs(issue("Options Test Root CA", ca=True).pem)
    value = os.environ[JVM_VARIABLE]
    store = truststore_path(value)
    assert value == f"{theirs} -Djavax.net.ssl.trustStore={store} -Djavax.net.ssl.trustStoreType=PKCS12 " \
                    "-Djavax.net.ssl.trustStorePassword=changeit"  # fmt: skip
    assert Path(store).is_file() and os.path.basename(store).startswith("truststore-")
    row = next(r for r in sly_nb_tls.status(clients=True).clients if r.client == "java")
    assert row.sees_extras is True and os.path.basename(store) in row.trust
    sly_nb_tls.reset()
    assert os.environ[JVM_VARIABLE] == theirs
    row = next(r for r in sly_nb_tls.status(clients=True).clients if r.client == "java")
    assert row.sees_extras is False


def test_with_no_java_nothing_changes_and_status_says_so(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("JAVA_HOME", raising=False)
    monkeypatch.setenv("PATH", str(tmp_path))  # no java on it (nor anything else)
    assert java.java_home() is None
    sly_nb_tls.add_certs(issue("No Java Root CA", ca=True).pem)
    assert JVM_VARIABLE not in os.environ
    assert JVM_VARIABLE not in [v.name for v in sly_nb_tls.status().variables if v.ours is not None]
    row = next(r for r in sly_nb_tls.status(clients=True).clients if r.client == "java")
    assert row.sees_extras is None and "no Java here" in row.trust


def _fake_jdk(tmp_path: Path, keytool: bool) -> Path:
    """A JAVA_HOME holding the real java, the real cacerts and, if asked, the real keytool."""
    real = java.java_home({"PATH": os.environ.get("PATH", "")})  # the java on PATH, whatever JAVA_HOME says
    assert real is not None and real != tmp_path / "jdk"
    home = tmp_path / "jdk"
    (home / "bin").mkdir(parents=True, exist_ok=True)
    (home / "lib" / "security").mkdir(parents=True, exist_ok=True)
    for tool in ("java", *(("keytool",) if keytool else ())):
        if not (home / "bin" / tool).exists():
            (home / "bin" / tool).symlink_to(real / "bin" / tool)
    cacerts = java.jdk_cacerts(real)
    assert cacerts is not None
    if not (home / "lib" / "security" / "cacerts").exists():
        shutil.copy2(cacerts, home / "lib" / "security" / "cacerts")
    return home


@pytest.mark.slow  # one keytool run, cold
def test_the_jdks_roots_are_read_by_keytool_once_then_from_the_cache(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SLY_NB_TLS_DIR", str(tmp_path / "cold"))  # an empty cache
    monkeypatch.setattr(java, "_MEMORY", {})
    home = _fake_jdk(tmp_path, keytool=False)
    monkeypatch.setenv("JAVA_HOME", str(home))
    sly_nb_tls.add_certs(issue("Cache Test Root CA", ca=True).pem)
    assert JVM_VARIABLE not in os.environ  # no keytool, nothing cached: the JVM's trust is left as it is
    row = next(r for r in sly_nb_tls.status(clients=True).clients if r.client == "java")
    assert row.sees_extras is False and "keytool could not run" in row.why, row
    sly_nb_tls.reset()
    for n, with_keytool in enumerate([True, False]):
        monkeypatch.setattr(java, "_MEMORY", {})
        if with_keytool:
            _fake_jdk(tmp_path, keytool=True)
        else:
            (home / "bin" / "keytool").unlink()  # from now on only the cache can answer
        sly_nb_tls.add_certs(issue(f"Cache Test Root CA {n}", ca=True).pem)
        added = {c.sha256 for c in sly_nb_tls.status().certificates}
        assert truststore_shas(truststore_path(os.environ[JVM_VARIABLE])) == set(jdk_root_shas()) | added
        sly_nb_tls.reset()
    assert len(list((tmp_path / "cold" / "cache").glob("jvm-roots-*.pem"))) == 1


def test_the_value_quotes_a_path_with_spaces_and_replaces_the_users_truststore_options() -> None:
    options = java.FAMILY.variables[0].value
    assert options is not None
    theirs = "-Xmx1g -Djavax.net.ssl.trustStore='/their store.jks' -Djavax.net.ssl.trustStorePassword=s3cret -Dx=1"
    assert options(theirs, "/a b/t.p12") == (
        '-Xmx1g -Dx=1 -Djavax.net.ssl.trustStore="/a b/t.p12" -Djavax.net.ssl.trustStoreType=PKCS12 '
        "-Djavax.net.ssl.trustStorePassword=changeit"
    )
    assert options(None, "/t.p12").startswith("-Djavax.net.ssl.trustStore=/t.p12 ")
    assert options(None, "/home/o'brien/t.p12").startswith("""-Djavax.net.ssl.trustStore="/home/o'brien/t.p12" """)
    assert options(None, '/a"b/t.p12').startswith("""-Djavax.net.ssl.trustStore='/a"b/t.p12' """)


def _their_truststore(path: Path, password: bytes) -> str:
    """A PKCS#12 truststore of the user's own, holding one CA of theirs: its fingerprint."""
    from cryptography import x509
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.serialization import pkcs12

    theirs = issue("Their Own Root CA", ca=True)
    cert = x509.load_pem_x509_certificate(theirs.pem.encode())
    data = pkcs12.serialize_java_truststore([pkcs12.PKCS12Certificate(cert, b"theirs")],
                                            serialization.BestAvailableEncryption(password))  # fmt: skip
    path.write_bytes(data)
    return keytool_fingerprints("-keystore", str(path), "-storepass", password.decode())[0]


@pytest.mark.slow  # keytool runs
def test_a_truststore_the_users_options_name_is_the_base(tmp_path: Path) -> None:
    store = tmp_path / "theirs.p12"
    theirs_sha = _their_truststore(store, b"s3cret-pw")
    theirs = f"-Djavax.net.ssl.trustStore={store} -Djavax.net.ssl.trustStorePassword=s3cret-pw -Xss4m"
    os.environ[JVM_VARIABLE] = theirs
    sly_nb_tls.add_certs(issue("Over Theirs Root CA", ca=True).pem)
    value = os.environ[JVM_VARIABLE]
    assert str(store) not in value and "s3cret" not in value and value.startswith("-Xss4m ")
    added = {c.sha256 for c in sly_nb_tls.status().certificates}
    ours = truststore_path(value)
    assert set(keytool_fingerprints("-keystore", ours, "-storepass", "changeit")) == {theirs_sha} | added
    sly_nb_tls.reset()
    assert os.environ[JVM_VARIABLE] == theirs


@pytest.mark.slow  # a keytool run
def test_a_truststore_keytool_cannot_read_leaves_the_jvm_alone_and_status_says_why(tmp_path: Path) -> None:
    store = tmp_path / "theirs.p12"
    _their_truststore(store, b"right-pw")
    theirs = f"-Djavax.net.ssl.trustStore={store} -Djavax.net.ssl.trustStorePassword=wrong-pw"
    os.environ[JVM_VARIABLE] = theirs
    sly_nb_tls.add_certs(issue("Unreadable Store Root CA", ca=True).pem)
    assert os.environ[JVM_VARIABLE] == theirs  # its readers' trust unknown: left as it is
    row = next(r for r in sly_nb_tls.status(clients=True).clients if r.client == "java")
    assert row.sees_extras is False and f"keytool cannot read {store}" in row.why, row.why
    assert "wrong-pw" not in str(sly_nb_tls.status(clients=True))


def test_spark_conf_ships_the_truststore_through_spark_files_and_names_it_by_its_bare_name() -> None:
    from sly_nb_tls.errors import CertificateSourceError
    from sly_nb_tls.workers import spark_conf

    with pytest.raises(CertificateSourceError, match="add certificates first"):
        spark_conf()
    sly_nb_tls.add_certs(issue("Spark Conf Root CA", ca=True).pem)
    store = truststore_path(os.environ[JVM_VARIABLE])
    name = os.path.basename(store)
    conf = spark_conf({"spark.files": "data.csv", "spark.executor.extraJavaOptions": "-Xss4m", "spark.app.name": "x"})
    assert conf["spark.files"] == f"data.csv,{store}" and Path(store).is_file()
    assert conf["spark.executor.extraJavaOptions"] == (
        f"-Xss4m -Djavax.net.ssl.trustStore={name} -Djavax.net.ssl.trustStoreType=PKCS12 "
        "-Djavax.net.ssl.trustStorePassword=changeit"
    )
    assert conf["spark.app.name"] == "x" and "spark.driver.extraJavaOptions" not in conf  # it reads JAVA_TOOL_OPTIONS
    cluster = spark_conf({"spark.submit.deployMode": "cluster"})
    assert cluster["spark.driver.extraJavaOptions"] == cluster["spark.executor.extraJavaOptions"]
    sly_nb_tls.reset()
    with pytest.raises(CertificateSourceError):
        spark_conf()


@pytest.mark.slow  # two JVM starts
def test_java_home_picks_the_jdk_whose_roots_and_java_are_used(
    client: str, demo_server: DemoServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    other = Path("/usr/lib/jvm/temurin-25-jdk-amd64")  # these machines have a second JDK besides Debian's 17
    if not (other / "bin" / "java").is_file():
        pytest.skip("no second JDK here")
    monkeypatch.setenv("JAVA_HOME", str(other))
    assert java.java_home() == other
    sly_nb_tls.add_certs(demo_server.root_path)
    base = next(v for v in sly_nb_tls.status().variables if v.name == JVM_VARIABLE)
    assert base.base == "the JDK's cacerts" and base.extras == 1
    url = demo_server.url + "/public/api/v3/instance.version"
    done = subprocess.run([str(other / "bin" / "java"), "-cp", client, "Fetch", url], capture_output=True, text=True,
                          timeout=120)  # fmt: skip
    assert "STATUS " in done.stdout and "Picked up JAVA_TOOL_OPTIONS" in done.stderr, done.stdout + done.stderr


def test_options_someone_else_changes_after_add_are_kept_and_the_truststore_stays_current() -> None:
    os.environ[JVM_VARIABLE] = "-Djavax.net.ssl.keyStorePassword=Their-Secret-1 -Xss4m"
    first, second = issue("Kept Options Root CA 1", ca=True), issue("Kept Options Root CA 2", ca=True)
    sly_nb_tls.add_certs(first.pem)
    os.environ[JVM_VARIABLE] += " -Xmx1g"  # a notebook cell appends an option of its own
    result = sly_nb_tls.add_certs(second.pem)
    assert any("its new options are kept" in n for n in result.notes), result.notes
    assert "Their-Secret-1" not in str(result) + str(sly_nb_tls.status())
    value = os.environ[JVM_VARIABLE]
    assert value.startswith("-Djavax.net.ssl.keyStorePassword=Their-Secret-1 -Xss4m -Xmx1g -Djavax.net.ssl.trustStore=")
    assert value.count("-Djavax.net.ssl.trustStore=") == 1
    by_name = {c.common_name: c.sha256 for c in sly_nb_tls.status().certificates}
    sly_nb_tls.remove(by_name["Kept Options Root CA 1"])
    held = truststore_shas(truststore_path(value))
    assert by_name["Kept Options Root CA 2"] in held and by_name["Kept Options Root CA 1"] not in held
    reset = sly_nb_tls.reset()
    assert os.environ[JVM_VARIABLE] == "-Djavax.net.ssl.keyStorePassword=Their-Secret-1 -Xss4m -Xmx1g"
    assert "Their-Secret-1" not in str(reset) + reset._repr_html_()


@pytest.mark.slow  # keytool runs, cold
@pytest.mark.parametrize("damage", ["garbage-in-the-cache", "cache-is-a-file"])
def test_a_damaged_cache_is_a_miss_never_a_failed_add(
    damage: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    user = tmp_path / "u"
    monkeypatch.setenv("SLY_NB_TLS_DIR", str(user))
    monkeypatch.setattr(java, "_MEMORY", {})
    sly_nb_tls.add_certs(issue("Damage Root CA 1", ca=True).pem)
    sly_nb_tls.reset()
    roots = next((user / "cache").glob("jvm-roots-*.pem"))
    if damage == "garbage-in-the-cache":
        roots.write_bytes(b"not a certificate\n")
    else:
        shutil.rmtree(user / "cache")
        (user / "cache").write_text("a file where the cache directory goes")
    monkeypatch.setattr(java, "_MEMORY", {})
    sly_nb_tls.add_certs(issue("Damage Root CA 2", ca=True).pem)
    added = {c.sha256 for c in sly_nb_tls.status().certificates}
    assert truststore_shas(truststore_path(os.environ[JVM_VARIABLE])) == set(jdk_root_shas()) | added
    if damage == "garbage-in-the-cache":
        assert b"BEGIN CERTIFICATE" in roots.read_bytes()  # replaced by what keytool said
