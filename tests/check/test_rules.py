"""Each contract rule, found at the right line in seeded broken plugins, and silent on
plugins that follow the contract."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tessera.check import Severity, check_path, check_plugin, plugin_folders
from tessera.check.findings import RULES
from tests.conftest import EXAMPLES

HERE = Path(__file__).resolve().parent
BROKEN = HERE / "broken"
CLEAN = HERE / "clean"
WARN = Severity.WARNING
# A seeded mistake is marked on its line: `# finding: rule-id[, rule-id]`.
MARK = re.compile(r"#\s*finding:\s*([\w\-]+(?:\s*,\s*[\w\-]+)*)")


def marked(folder: Path) -> set[tuple[str, int, str]]:
    expected = set()
    for module in folder.rglob("*.py"):
        lines = module.read_text().splitlines()
        for number, line in enumerate(lines, start=1):
            if found := MARK.search(line):
                for rule in found.group(1).split(","):
                    expected.add((module.relative_to(folder).as_posix(), number, rule.strip()))
    return expected


def found(folder: Path) -> set[tuple[str, int, str]]:
    return {
        (Path(f.path).relative_to(folder).as_posix(), f.line, f.rule) for f in check_plugin(folder)
    }


@pytest.mark.parametrize("plugin", sorted(p.name for p in BROKEN.iterdir() if p.is_dir()))
def test_each_seeded_mistake_is_found_with_its_rule_and_line(plugin):
    folder = BROKEN / plugin
    expected = marked(folder)
    assert expected, "a broken plugin marks at least one mistake"
    assert found(folder) == expected


@pytest.mark.parametrize(
    ("plugin", "code", "at", "rule", "severity"),
    [
        ("sync_execute", "def execute(", "def", "entry-sync", Severity.ERROR),
        ("raises", 'raise RuntimeError("boom")', "raise", "raise-escapes", Severity.ERROR),
        ("unscoped_query", "await notes.find({})", "{}", "query-unscoped", Severity.ERROR),
        ("unguarded_objectid", "oid = ObjectId(data", "ObjectId", "objectid-unguarded", WARN),
        ("missing_return", "        return  #", "return", "missing-return", Severity.ERROR),
        ("core_imports", "import core.cache", "import", "core-import", Severity.ERROR),
        (
            "unchecked_input",
            '"user_id": user_id, "title": title}',
            "title}",
            "input-unchecked",
            WARN,
        ),
    ],
)
def test_the_issues_seeded_mistakes_are_reported_where_they_are(plugin, code, at, rule, severity):
    """The line holding ``code``, the column where ``at`` starts on it."""
    logic = BROKEN / plugin / "logic.py"
    lines = logic.read_text().splitlines()
    line = next(n for n, text in enumerate(lines, start=1) if code in text)
    col = lines[line - 1].index(at, lines[line - 1].index(code)) + 1
    findings = [f for f in check_plugin(BROKEN / plugin) if (f.line, f.rule) == (line, rule)]
    assert len(findings) == 1
    assert findings[0].col == col
    assert findings[0].severity is severity
    assert findings[0].path == str(logic)


def test_messages_say_what_to_do():
    by_rule = {f.rule: f.message for f in check_path(BROKEN).findings}
    assert "async def execute" in by_rule["entry-sync"]
    assert '"user_id": user_id' in by_rule["query-unscoped"]
    assert "ObjectId.is_valid" in by_rule["objectid-unguarded"]
    assert "add await" in check_messages("missing_return", "return-not-dict")
    assert "it provides event_bus, on_event" in check_messages("core_imports", "core-import")


def check_messages(plugin: str, rule: str) -> str:
    return "\n".join(f.message for f in check_plugin(BROKEN / plugin) if f.rule == rule)


def test_every_rule_is_seeded_in_a_broken_plugin_or_a_test_here():
    seeded = {rule for folder in BROKEN.iterdir() for (_, _, rule) in marked(folder)}
    assert set(RULES) - seeded == {"syntax-error", "manifest-invalid"}


def test_plugins_that_follow_the_contract_have_no_findings():
    report = check_path(CLEAN)
    assert report.plugins == ["backend_style", "current_generation", "full", "reexport"]
    assert report.findings == []


def test_every_example_plugin_passes_without_errors():
    report = check_path(EXAMPLES)
    assert report.plugins, "examples/plugins holds plugins"
    assert not report.failed()
    assert [f for f in report.findings if f.severity is Severity.ERROR] == []


def test_the_contract_template_only_warns_about_its_unguarded_object_ids():
    # examples/plugins/notes is the contract's template verbatim: ObjectId(item_id) from the
    # client can raise InvalidId (a 500 from the runtime, not a leak), so it is a warning.
    notes = check_plugin(EXAMPLES / "notes")
    assert {(f.rule, f.severity) for f in notes} == {
        ("objectid-unguarded", Severity.WARNING),
        ("input-unchecked", Severity.WARNING),
    }


def test_a_scaffolded_plugin_passes(tmp_path):
    from tessera.scaffold.plugin_folder import new_plugin

    new_plugin("fresh-one", tmp_path)
    assert check_path(tmp_path / "fresh-one").findings == []


def test_a_syntax_error_is_one_finding_and_the_other_modules_are_still_checked(tmp_path):
    (tmp_path / "logic.py").write_text("async def execute(data):\n    return {'ok': True\n")
    (tmp_path / "helpers.py").write_text(
        "from core.config.database import db\n\n\nasync def everyone():\n"
        "    return await db['x'].find({}).to_list(None)\n"
    )
    findings = check_plugin(tmp_path)
    assert [(Path(f.path).name, f.rule) for f in findings] == [
        ("logic.py", "syntax-error"),
        ("helpers.py", "query-unscoped"),
    ]
    assert findings[0].line == 2


@pytest.mark.parametrize(
    "manifest",
    ['{"display_name": ', '{"shared_collections": "board"}', '{"timeout": -1}'],
)
def test_an_unusable_manifest_is_reported(tmp_path, manifest):
    (tmp_path / "logic.py").write_text("async def execute(data):\n    return {}\n")
    (tmp_path / "manifest.json").write_text(manifest)
    assert [(Path(f.path).name, f.rule) for f in check_plugin(tmp_path)] == [
        ("manifest.json", "manifest-invalid")
    ]


def test_a_backend_manifest_declares_shared_collections(tmp_path):
    backend = tmp_path / "board" / "backend"
    backend.mkdir(parents=True)
    (backend / "logic.py").write_text(
        "from core.config.database import db\n\n\nasync def execute(data):\n"
        "    return {'rows': await db['board'].find({}).to_list(10)}\n"
    )
    assert [f.rule for f in check_plugin(tmp_path / "board")] == ["query-unscoped"]
    (backend / "manifest.json").write_text('{"shared_collections": ["board"]}')
    assert check_plugin(tmp_path / "board") == []


def test_plugin_folders_are_the_folder_itself_or_its_plugin_subfolders(tmp_path):
    for name in ("b", "a", ".hidden", "_private", "empty"):
        (tmp_path / name).mkdir()
    for name in ("a", "b", ".hidden", "_private"):
        (tmp_path / name / "logic.py").write_text("")
    assert [p.name for p in plugin_folders(tmp_path)] == ["a", "b"]
    assert plugin_folders(tmp_path / "a") == [tmp_path / "a"]
    assert plugin_folders(tmp_path / "empty") == []
    with pytest.raises(ValueError, match="no plugin in"):
        check_path(tmp_path / "empty")


def test_a_plugins_own_tests_are_not_checked(tmp_path):
    reads_all = (
        "from core.config.database import db\n\n\nasync def f():\n    await db['x'].find()\n"
    )
    (tmp_path / "logic.py").write_text("async def execute(data):\n    return {}\n")
    for name in ("test_logic.py", "logic_test.py", "conftest.py", "tests/helpers.py"):
        (tmp_path / name).parent.mkdir(exist_ok=True)
        (tmp_path / name).write_text(reads_all)
    assert check_plugin(tmp_path) == []
    (tmp_path / "store.py").write_text(reads_all)
    assert [Path(f.path).name for f in check_plugin(tmp_path)] == ["store.py"]


def test_an_unnamed_collection_is_unverified_only_when_the_manifest_shares_some(tmp_path):
    (tmp_path / "logic.py").write_text(
        "from core.config.database import db\n\n\nasync def execute(data):\n"
        "    return {'rows': await db[data['kind'] + '_rows'].find({}).to_list(10)}\n"
    )
    assert [f.rule for f in check_plugin(tmp_path)] == ["query-unscoped"]
    (tmp_path / "manifest.json").write_text('{"shared_collections": ["board_rows"]}')
    assert [f.rule for f in check_plugin(tmp_path)] == ["scope-unverified"]


def test_an_insert_without_user_id_is_a_note_that_fails_nothing():
    """The runtime gives the document the caller's user_id; only other runtimes do not."""
    report = check_path(BROKEN / "unscoped_insert")
    assert {(f.rule, f.severity) for f in report.findings} == {("insert-unscoped", Severity.INFO)}
    assert "Tessera stores the caller's" in report.findings[0].message
    assert not report.failed(strict=True)
    assert report.text().endswith("0 error(s), 0 warning(s), 2 note(s)")


def test_the_current_generations_db_is_checked_as_cores(tmp_path):
    (tmp_path / "logic.py").write_text(
        "from mozaiks_infra.config import database\n"
        "from mozaiks_infra.config.database import db\n\n\nasync def execute(data):\n"
        "    rows = await db['x'].find({}).to_list(None)\n"
        "    n = await database.db['x'].count_documents({})\n"
        "    return {'rows': rows, 'n': n}\n"
    )
    assert [(f.line, f.rule) for f in check_plugin(tmp_path)] == [
        (6, "query-unscoped"),
        (7, "query-unscoped"),
    ]


def test_the_contract_table_matches_what_the_modules_export():
    import importlib

    from tessera.check.imports import CONTRACT

    for module, names in CONTRACT.items():
        imported = importlib.import_module(module)
        exported = getattr(imported, "__all__", None)
        if exported is not None:
            assert set(exported) == names, module
        for name in names:
            assert hasattr(imported, name) or importlib.import_module(f"{module}.{name}"), name


def test_a_module_layout_folder_is_reported_beside_the_plugins(tmp_path):
    (tmp_path / "legacy").mkdir()
    (tmp_path / "legacy" / "logic.py").write_text("async def execute(data):\n    return {}\n")
    (tmp_path / "successor").mkdir()
    (tmp_path / "successor" / "module.json").write_text("{}")
    report = check_path(tmp_path)
    assert report.plugins == ["legacy", "successor"]
    [finding] = report.findings
    assert (Path(finding.path).name, finding.rule) == ("module.json", "module-layout")
    assert "async def execute(data: dict) -> dict" in finding.message
    assert report.failed()
