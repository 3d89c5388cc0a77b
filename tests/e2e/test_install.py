"""cmake --install gives a usable tree: the program finds its pipelines beside
it, and a program built from samples/embed.c against the installed library
(shared, and static) with pkg-config writes exactly what `docpipe convert`
writes.  Everything goes to a temporary prefix."""
import glob
import os
import re
import shlex
import shutil
import subprocess
import sys
import tempfile
import unittest

sys.path.insert(0, os.path.dirname(__file__))
import dptest  # noqa: E402
from dptest import SOURCE  # noqa: E402

BUILD = os.environ.get("DOCPIPE_BUILD")
CMAKE = os.environ.get("DOCPIPE_CMAKE", "cmake")
CC = os.environ.get("DOCPIPE_CC", "cc")
# The sanitizer flags of the build: a program linking its libraries needs them.
CFLAGS = shlex.split(os.environ.get("DOCPIPE_TEST_CFLAGS", ""))
SAMPLES = os.path.join(SOURCE, "samples", "files")
EMBED = os.path.join(SOURCE, "samples", "embed.c")


def run(args, **kw):
    kw.setdefault("stdout", subprocess.PIPE)
    kw.setdefault("stderr", subprocess.PIPE)
    kw.setdefault("timeout", 300)
    return subprocess.run(args, **kw)


def clean_env(**extra):
    """The environment without pipeline-folder overrides: lookups must work
    from the installed layout alone."""
    env = {k: v for k, v in os.environ.items()
           if k not in ("DOCPIPE_PIPELINE_DIR", "DOCPIPE_PIPELINES", "PKG_CONFIG_PATH",
                        "LD_LIBRARY_PATH")}
    env.update(extra)
    return env


@unittest.skipUnless(BUILD, "DOCPIPE_BUILD is not set (run through ctest)")
class Install(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.mkdtemp(prefix="docpipe-install-")
        cls.prefix = os.path.join(cls.tmp, "prefix")
        cls.work = os.path.join(cls.tmp, "work")  # cwd outside the source tree
        os.makedirs(cls.work)
        p = run([CMAKE, "--install", BUILD, "--prefix", cls.prefix])
        if p.returncode:
            raise AssertionError("cmake --install failed:\n" + p.stdout.decode() +
                                 p.stderr.decode())
        libs = glob.glob(os.path.join(cls.prefix, "lib*", "**", "libdocpipe.a"), recursive=True)
        assert len(libs) == 1, libs
        cls.libdir = os.path.dirname(libs[0])
        cls.program = os.path.join(cls.prefix, "bin", "docpipe")
        cls.pkg_env = clean_env(PKG_CONFIG_PATH=os.path.join(cls.libdir, "pkgconfig"))
        # The reference: the installed program itself.
        ref = run([cls.program, "convert", SAMPLES], cwd=cls.work, env=clean_env())
        assert ref.returncode == 0, ref.stderr.decode()
        cls.expected = ref.stdout
        assert cls.expected.count(b"\n") == len(os.listdir(SAMPLES))

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.tmp, ignore_errors=True)

    def pkg_config(self, *args):
        p = run(["pkg-config", *args, "docpipe"], env=self.pkg_env)
        self.assertEqual(p.returncode, 0, p.stderr.decode())
        return shlex.split(p.stdout.decode())

    def build_embed(self, name, static):
        out = os.path.join(self.tmp, name)
        libs = self.pkg_config("--static", "--libs") if static else self.pkg_config("--libs")
        if static:
            # -ldocpipe would pick the shared library installed beside the archive.
            libs = ["-l:libdocpipe.a" if a == "-ldocpipe" else a for a in libs]
        p = run([CC, "-std=c11", "-Wall", "-Wextra", "-Werror", *CFLAGS, EMBED, "-o", out,
                 *self.pkg_config("--cflags"), *libs], cwd=self.work, env=self.pkg_env)
        self.assertEqual(p.returncode, 0, p.stderr.decode())
        needed = run(["readelf", "-d", out]).stdout.decode()
        self.assertEqual("libdocpipe.so" in needed, not static, needed)
        return out

    def test_installed_files(self):
        version = run([self.program, "--version"]).stdout.decode().split()[-1]
        major = version.split(".")[0]
        for rel in ["bin/docpipe", "include/docpipe.h",
                    "share/docpipe/pipelines/raw-files.pipeline",
                    "share/docpipe/pipelines/fhir-dump.pipeline",
                    "share/docpipe/pipelines/es-bulk.pipeline",
                    "share/docpipe/pipelines/slurm-array.sbatch",
                    "share/docpipe/pipelines/loinc-document-types.tsv",
                    "share/man/man1/docpipe.1", "share/man/man5/docpipe-pipeline.5"]:
            self.assertTrue(os.path.isfile(os.path.join(self.prefix, rel)), rel)
        for name in ["libdocpipe.so." + major, "libdocpipe.so." + version, "libdocpipe.so",
                     "libdocpipe.a", "pkgconfig/docpipe.pc"]:
            self.assertTrue(os.path.exists(os.path.join(self.libdir, name)), name)
        self.assertTrue(os.access(self.program, os.X_OK))
        self.assertEqual(self.pkg_config("--modversion"), [version])
        # The public header stands alone: no internal header, C++ guards.
        with open(os.path.join(self.prefix, "include", "docpipe.h")) as f:
            header = f.read()
        self.assertEqual(re.findall(r'#include\s+"', header), [])
        cxx = shutil.which("c++")
        if cxx:  # and C++ takes it
            p = run([cxx, "-x", "c++", "-fsyntax-only", "-Wall", "-Wextra", "-Werror",
                     "-I" + os.path.join(self.prefix, "include"), "-"],
                    input=b"#include <docpipe.h>\nint main() { docpipe_free(docpipe_new()); }\n")
            self.assertEqual(p.returncode, 0, p.stderr.decode())

    def test_shared_library_exports_only_the_api(self):
        so = os.path.join(self.libdir, "libdocpipe.so")
        p = run(["nm", "-D", "--defined-only", so])
        self.assertEqual(p.returncode, 0, p.stderr.decode())
        names = [line.split()[-1] for line in p.stdout.decode().splitlines() if line.strip()]
        self.assertIn("docpipe_new", names)
        self.assertIn("docpipe_finish", names)
        self.assertEqual([n for n in names if not n.startswith("docpipe_")], [])
        soname = run(["readelf", "-d", so]).stdout.decode()
        self.assertRegex(soname, r"SONAME.*\[libdocpipe\.so\.\d+\]")

    def test_embed_shared(self):
        exe = self.build_embed("embed-shared", static=False)
        p = run([exe, SAMPLES], cwd=self.work, env=clean_env(LD_LIBRARY_PATH=self.libdir))
        self.assertEqual(p.returncode, 0, p.stderr.decode())
        self.assertEqual(p.stdout, self.expected)

    def test_embed_static(self):
        exe = self.build_embed("embed-static", static=True)
        p = run([exe, SAMPLES], cwd=self.work, env=clean_env())
        self.assertEqual(p.returncode, 0, p.stderr.decode())
        self.assertEqual(p.stdout, self.expected)

    def test_embed_stdin_and_failures(self):
        """Paths pushed one per line; a missing file is an error record and
        exit status 1, as with docpipe."""
        exe = self.build_embed("embed-stdin", static=False)
        paths = [os.path.join(SAMPLES, "ccd.xml"), os.path.join(self.work, "missing.pdf"),
                 os.path.join(SAMPLES, "lab-result.hl7")]
        env = clean_env(LD_LIBRARY_PATH=self.libdir)
        p = run([exe], input="\n".join(paths).encode() + b"\n", cwd=self.work, env=env)
        ref = run([self.program, "convert", *paths], cwd=self.work, env=clean_env())
        self.assertEqual(ref.returncode, 1)
        self.assertEqual(p.returncode, 1, p.stderr.decode())
        self.assertEqual(p.stdout, ref.stdout)
        errors = [l for l in p.stderr.decode().splitlines() if l.startswith("{")]
        self.assertEqual(len(errors), 1)
        self.assertIn('"kind":"io"', errors[0])

    def test_program_finds_installed_pipelines(self):
        """From a folder outside the source tree, without DOCPIPE_PIPELINE_DIR:
        the pipelines beside bin/ are found, before any other folder."""
        p = run([self.program, "run", "raw-files", SAMPLES], cwd=self.work, env=clean_env())
        self.assertEqual(p.returncode, 0, p.stderr.decode())
        self.assertEqual(p.stdout, self.expected)
        # A pipeline only the installed tree has (this test's own prefix).
        mine = os.path.join(self.prefix, "share", "docpipe", "pipelines", "only-here.pipeline")
        shutil.copy(os.path.join(self.prefix, "share", "docpipe", "pipelines",
                                 "raw-files.pipeline"), mine)
        try:
            p = run([self.program, "run", "only-here", SAMPLES], cwd=self.work, env=clean_env())
        finally:
            os.unlink(mine)
        self.assertEqual(p.returncode, 0, p.stderr.decode())
        self.assertEqual(p.stdout, self.expected)
        # Not found: the message lists where it looked, the install first.
        p = run([self.program, "run", "no-such-pipeline"], cwd=self.work, env=clean_env())
        self.assertEqual(p.returncode, 2)
        msg = p.stderr.decode()
        self.assertIn("no pipeline 'no-such-pipeline' (looked in " +
                      os.path.realpath(os.path.join(self.prefix, "share", "docpipe",
                                                    "pipelines")), msg)


if __name__ == "__main__":
    dptest.main()
