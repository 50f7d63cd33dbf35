"""Hostile engines, git: everything an engine can plant in its clone for git to run.

The publisher never runs git in the engine's tree, reads the tree as data and
commits in a clone of its own; the engine's ``.git/config``, hooks and info
must be left alone (``engine_failed``). Each test is one attack through the
real worker (tests/support/hostile.py says what every check asserts).
"""

from __future__ import annotations

from tests.support.hostile import (
    EDIT,
    FOLDER_TASK,
    SUCCESS,
    Hostile,
    hostile,  # noqa: F401
)

# A filter, diff and textconv driver named "x" that all run the spy.
DRIVERS = (
    'printf \'[filter "x"]\\n\\tclean = %s\\n\\tsmudge = %s\\n\\tprocess = %s\\n'
    '[diff "x"]\\n\\ttextconv = %s\\n\\tcommand = %s\\n\' ' + " ".join(['"$PWD/.git/evil/spy"'] * 5)
)
ATTRIBUTES = "printf '* filter=x diff=x merge=x\\n'"


def test_commondir_points_git_at_a_config_with_filters(hostile: Hostile) -> None:  # noqa: F811
    outcome = hostile.run(
        f"{hostile.spy()} && {DRIVERS} > .git/evil/config && mkdir -p .git/evil/info"
        f" && {ATTRIBUTES} > .git/evil/info/attributes && echo evil > .git/commondir; {EDIT}"
    )
    hostile.check(outcome, SUCCESS)  # .git is never read: only the edit is published


def test_a_dot_git_file_with_gitdir_moves_the_repository(hostile: Hostile) -> None:  # noqa: F811
    outcome = hostile.run(
        f'cp -r .git "$HOME/g" && rm -rf .git && echo "gitdir: $HOME/g" > .git; {EDIT}'
    )
    hostile.check(outcome, "engine_failed")


def test_a_gitdir_file_in_an_allowed_folder(hostile: Hostile) -> None:  # noqa: F811
    outcome = hostile.run(f"echo 'gitdir: ../.git' > docs/.git; {EDIT}", task=FOLDER_TASK)
    hostile.check(outcome, "scope_violation")


def test_gitattributes_with_filters_in_scope_are_data(hostile: Hostile) -> None:  # noqa: F811
    outcome = hostile.run(
        f"{hostile.spy()} && {DRIVERS} > .git/evil/config && echo evil > .git/commondir"
        f" && {ATTRIBUTES} > docs/.gitattributes; {EDIT}",
        task=FOLDER_TASK,
    )
    hostile.check(outcome, SUCCESS, paths=["docs/.gitattributes", "docs/README.md"])
    assert hostile.pushed("docs/.gitattributes") == b"* filter=x diff=x merge=x\n"


def test_gitattributes_at_the_root(hostile: Hostile) -> None:  # noqa: F811
    outcome = hostile.run(f"{ATTRIBUTES} > .gitattributes; {EDIT}", task=FOLDER_TASK)
    hostile.check(outcome, "scope_violation")


def test_info_attributes_with_a_filter(hostile: Hostile) -> None:  # noqa: F811
    outcome = hostile.run(
        f"{hostile.spy()} && {DRIVERS} >> .git/config && {ATTRIBUTES} > .git/info/attributes;"
        f" {EDIT}"
    )
    hostile.check(outcome, "engine_failed")


def test_diff_and_textconv_drivers_in_config(hostile: Hostile) -> None:  # noqa: F811
    outcome = hostile.run(
        f'{hostile.spy()} && git config diff.x.textconv "$PWD/.git/evil/spy"'
        f' && git config diff.x.command "$PWD/.git/evil/spy"'
        f" && {ATTRIBUTES} > docs/.gitattributes; {EDIT}",
        task=FOLDER_TASK,
    )
    hostile.check(outcome, "engine_failed")


def test_hooks(hostile: Hostile) -> None:  # noqa: F811
    hooks = "pre-commit post-commit pre-push reference-transaction post-checkout post-index-change"
    outcome = hostile.run(
        f"{hostile.spy()} && for h in {hooks}; do cp .git/evil/spy .git/hooks/$h; done; {EDIT}"
    )
    hostile.check(outcome, "engine_failed")


def test_hooks_path_into_the_tree(hostile: Hostile) -> None:  # noqa: F811
    outcome = hostile.run(
        f"{hostile.spy()} && mkdir -p docs/hooks && cp .git/evil/spy docs/hooks/pre-push"
        f' && git config core.hooksPath "$PWD/docs/hooks"; {EDIT}',
        task=FOLDER_TASK,
    )
    hostile.check(outcome, "engine_failed")


def test_core_fsmonitor(hostile: Hostile) -> None:  # noqa: F811
    outcome = hostile.run(
        f'{hostile.spy()} && git config core.fsmonitor "$PWD/.git/evil/spy"; {EDIT}'
    )
    hostile.check(outcome, "engine_failed")


def test_include_path(hostile: Hostile) -> None:  # noqa: F811
    outcome = hostile.run(
        f"{hostile.spy()} && {DRIVERS} > .git/evil/inc && git config include.path evil/inc"
        f" && git config includeIf.gitdir:/.path evil/inc; {EDIT}"
    )
    hostile.check(outcome, "engine_failed")


def test_core_ssh_command(hostile: Hostile) -> None:  # noqa: F811
    outcome = hostile.run(
        f'{hostile.spy()} && git config core.sshCommand "$PWD/.git/evil/spy"'
        " && git config url.ssh://evil/.insteadOf file://; " + EDIT
    )
    hostile.check(outcome, "engine_failed")


def test_a_global_gitconfig_in_the_engines_home(hostile: Hostile) -> None:  # noqa: F811
    """HOME is the engine's scratch dir; the publisher's git reads no global config."""
    outcome = hostile.run(
        f'{hostile.spy()} && printf "[core]\\n\\tsshCommand = %s\\n\\tfsmonitor = %s\\n'
        f'[include]\\n\\tpath = %s\\n" "$PWD/.git/evil/spy" "$PWD/.git/evil/spy"'
        f' "$PWD/.git/evil/config" > "$HOME/.gitconfig" && mkdir -p "$HOME/.config/git"'
        f' && cp "$HOME/.gitconfig" "$HOME/.config/git/config"; {EDIT}'
    )
    hostile.check(outcome, SUCCESS)


def test_alternates_and_replace_refs_in_the_engines_clone(hostile: Hostile) -> None:  # noqa: F811
    outcome = hostile.run(
        "echo /etc > .git/objects/info/alternates && echo evil > src/app.py"
        " && git add src/app.py && c=$(git -c user.name=a -c user.email=a@b commit-tree"
        " $(git write-tree) -m x) && git replace HEAD $c && git checkout -q HEAD -- src/app.py;"
        f" {EDIT}"
    )
    # The engine's own git now shows HEAD's src/app.py as its evil copy; the
    # publisher reads the file itself, finds it changed and out of scope.
    hostile.check(outcome, "scope_violation")


def test_gitmodules_and_a_gitlink_in_the_engines_index(hostile: Hostile) -> None:  # noqa: F811
    outcome = hostile.run(
        "printf '[submodule \"s\"]\\n\\tpath = docs/sub\\n\\turl = ../../etc\\n' > .gitmodules"
        " && mkdir -p docs/sub && git update-index --add --cacheinfo"
        " 160000,$(git rev-parse HEAD),docs/sub; " + EDIT,
        task=FOLDER_TASK,
    )
    hostile.check(outcome, "scope_violation")  # .gitmodules lies outside the prefixes


def test_a_nested_repository_as_a_submodule(hostile: Hostile) -> None:  # noqa: F811
    outcome = hostile.run(
        "git init -q docs/sub && echo x > docs/sub/f && git -C docs/sub add f"
        " && git -C docs/sub -c user.name=a -c user.email=a@b commit -qm x"
        " && git add docs/sub; " + EDIT,
        task=FOLDER_TASK,
    )
    hostile.check(outcome, "scope_violation")


def test_a_symlink_into_dot_git(hostile: Hostile) -> None:  # noqa: F811
    outcome = hostile.run(f"ln -s ../.git/config docs/config.md; {EDIT}", task=FOLDER_TASK)
    hostile.check(outcome, "scope_violation")


def test_a_symlink_into_dot_git_spelled_differently(hostile: Hostile) -> None:  # noqa: F811
    """``.GIT`` and ``.git.`` are ``.git`` on case-folding or Windows checkouts."""
    outcome = hostile.run(
        f"ln -s ../.GIT/config docs/a.md && ln -s ../.git./hooks docs/b; {EDIT}",
        task=FOLDER_TASK,
    )
    hostile.check(outcome, "scope_violation")


def test_the_backlog_replaced_by_a_symlink(hostile: Hostile) -> None:  # noqa: F811
    outcome = hostile.run(
        f"{EDIT} && rm .leviathan/backlog.yaml && ln -s ../docs/README.md .leviathan/backlog.yaml"
    )
    # The backlog is the publisher's to edit: any other change to it is refused.
    hostile.check(outcome, "scope_violation")


def test_the_task_widens_its_own_allowed_paths(hostile: Hostile) -> None:  # noqa: F811
    outcome = hostile.run(
        "sed -i 's#allowed_paths: \\[docs/README.md\\]#allowed_paths: [docs/README.md, src/]#'"
        f" .leviathan/backlog.yaml && echo evil > src/app.py; {EDIT}"
    )
    hostile.check(outcome, "scope_violation")


def test_chmod_x_on_an_allowed_file(hostile: Hostile) -> None:  # noqa: F811
    outcome = hostile.run("chmod +x docs/README.md")
    hostile.check(outcome, SUCCESS)
    assert hostile.pushed_mode("docs/README.md") == "100755"


def test_chmod_x_on_a_disallowed_file(hostile: Hostile) -> None:  # noqa: F811
    outcome = hostile.run(f"chmod +x src/app.py; {EDIT}")
    hostile.check(outcome, "scope_violation")


def test_chmod_x_on_the_backlog_is_refused(hostile: Hostile) -> None:  # noqa: F811
    outcome = hostile.run(f"chmod +x .leviathan/backlog.yaml; {EDIT}")
    # A mode change is a backlog edit too, and only the publisher edits the backlog.
    hostile.check(outcome, "scope_violation")


def test_three_phases_commondir_and_filters(hostile: Hostile) -> None:  # noqa: F811
    outcome = hostile.phases(
        f"{hostile.spy()} && {DRIVERS} > .git/evil/config && mkdir -p .git/evil/info"
        f" && {ATTRIBUTES} > .git/evil/info/attributes && echo evil > .git/commondir; {EDIT}"
    )
    hostile.check(outcome, SUCCESS)


def test_three_phases_hooks(hostile: Hostile) -> None:  # noqa: F811
    outcome = hostile.phases(
        f"{hostile.spy()} && for h in pre-commit pre-push post-checkout; do"
        f" cp .git/evil/spy .git/hooks/$h; done; {EDIT}"
    )
    hostile.check(outcome, "engine_failed")
