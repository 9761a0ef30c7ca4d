"""Per-file extraction: one module's source to a compact, cacheable record.

This runs in worker processes and its output is cached with `marshal`, so records are plain
tuples, strings, ints and dicts (no classes); `bot.analysis.link` turns them into the model.
The walk is hand-rolled rather than `ast.walk`/`NodeVisitor`: it is the hot loop of a cold
analysis and visits every node once with a type dispatch.
"""

from __future__ import annotations

import ast
import builtins
import codecs
import inspect
import io
import operator
import re
import sys
import tokenize
from typing import Any

# Bump when the record layout or its meaning changes: it is part of every cache key.
RECORD_VERSION = 3

# Record layouts (positions), documented once here and unpacked in bot.analysis.link:
# ok record:   ("ok", lines, docstring, imports, classes, functions, bindings, all_names,
#               conventions, star_imports)
# error record: ("error", kind, message, line)
# import:      (target, bound_name, line, is_from)     target is absolute ("pkg.mod.name")
# class:       (qualname, name, line, end_line, decorators, docstring, bases, methods)
# function:    (qualname, name, class_qualname, is_async, line, end_line, col, end_col,
#               first_line, signature, params, decorators, docstring, complexity, loops,
#               calls, annotated, fully_annotated)
# loop:        (kind, line, end_line, depth)
# call:        (expression, candidate, line)

_BUILTINS = frozenset(dir(builtins))
_intern = sys.intern
_PY2_HINTS = (
    "Missing parentheses in call to",
    "leading zeros in decimal integer literals",
    "invalid hexadecimal literal",
)
_PY2_PATTERNS = re.compile(
    rb"^\s*print\s+[\"'\w]|^\s*exec\s+[\"']|except\s+[\w.]+\s*,\s*\w+\s*:|\bur[\"']|`\w+`"
    rb"|^\s*raise\s+\w+\s*,",
    re.MULTILINE,
)
_COOKIE = re.compile(rb"^[ \t\f]*#.*?coding[:=]", re.MULTILINE)
_STORE = ast.Store
_DEF_TYPES = (ast.FunctionDef, ast.AsyncFunctionDef)
_MAX_QUOTE_SAMPLES = 400
_LONG_LINE = 72
_ASYNC_PREFIXES = ("asyncio.", "trio.", "anyio.")
_THREAD_PREFIXES = ("threading.", "_thread.", "concurrent.futures.thread", "queue.Queue")
_THREAD_POOL = ("concurrent.futures.ThreadPoolExecutor",)
# One test for the rare candidates that may be either (most are neither).
_CONCURRENCY_PREFIXES = (*_ASYNC_PREFIXES, *_THREAD_PREFIXES, *_THREAD_POOL)


def _child_fields() -> dict[type, tuple[str, ...]]:
    """Map each node type to the fields that can hold child nodes (not names or contexts)."""
    # Operators (`op`, `ops`) are bare singletons: a tenth of a body's nodes, nothing to count.
    skip = {"ctx", "type_comment", "kind", "id", "arg", "attr", "name", "module", "level",
            "is_async", "conversion", "names", "kwd_attrs", "rest", "tag", "op", "ops"}
    table: dict[type, tuple[str, ...]] = {}
    for obj in vars(ast).values():
        if isinstance(obj, type) and issubclass(obj, ast.AST):
            table[obj] = tuple(f for f in obj._fields if f not in skip)
    table[ast.Constant] = ()
    return table


def _child_getters() -> dict[type, Any]:
    """Map each node type with children to one field name, or a getter of several (in C)."""
    return {t: names[0] if len(names) == 1 else operator.attrgetter(*names)
            for t, names in _child_fields().items() if names}


_CHILDREN = _child_getters()
# Node types the body walk treats specially, by what it does with them.
(_BRANCH, _BOOL, _EXCEPT, _RAISE, _RETURN, _COMPARE, _AWAIT, _FSTRING, _NESTED, _SKIP, _LOOP,
 _COMP, _MARKER) = range(13)
# The depth marker is the one plain `object` on the walk's stack.
_SPECIAL = {ast.If: _BRANCH, ast.IfExp: _BRANCH, ast.match_case: _BRANCH, ast.BoolOp: _BOOL,
            ast.ExceptHandler: _EXCEPT, ast.Raise: _RAISE, ast.Return: _RETURN,
            ast.Compare: _COMPARE, ast.Await: _AWAIT, ast.JoinedStr: _FSTRING,
            ast.FunctionDef: _NESTED, ast.AsyncFunctionDef: _NESTED, ast.ClassDef: _NESTED,
            ast.Import: _SKIP, ast.ImportFrom: _SKIP, ast.For: _LOOP, ast.AsyncFor: _LOOP,
            ast.While: _LOOP, ast.ListComp: _COMP, ast.SetComp: _COMP, ast.DictComp: _COMP,
            ast.GeneratorExp: _COMP, object: _MARKER}


def extract_source(source: bytes, module: str, is_package: bool) -> tuple[Any, ...]:
    """Return the record of one module's source (an error record if it cannot be parsed)."""
    if b"\0" in source:
        return ("error", "binary", "the file contains null bytes", 0)
    if source.startswith(codecs.BOM_UTF8):
        source = source[3:]
    try:
        text, reencode = _decode(source)
    except (UnicodeDecodeError, LookupError, SyntaxError) as exc:
        return ("error", "encoding", f"cannot decode: {exc}", _decode_error_line(source, exc))
    try:
        tree = ast.parse(text)
    except SyntaxError as exc:
        kind = "python2" if _looks_like_python2(source, exc) else "syntax_error"
        return ("error", kind, f"{exc.msg}", exc.lineno or 0)
    except (RecursionError, MemoryError, ValueError) as exc:
        return ("error", "too_complex", f"cannot parse: {exc.__class__.__name__}", 0)
    if reencode:
        source = text.encode("utf-8")  # ast offsets count UTF-8 bytes of the decoded text
    try:
        return _Extractor(tree, source, module, is_package).run()
    except RecursionError:
        return ("error", "too_complex", "nesting too deep to analyse", 0)


def _decode(source: bytes) -> tuple[str, bool]:
    """Decode by the PEP 263 cookie when there is one, else as strict UTF-8.

    Also return whether the bytes differ from the text's UTF-8 (a non-UTF-8 cookie).
    """
    head = source[: source.find(b"\n", source.find(b"\n") + 1) + 1 or len(source)]
    if _COOKIE.search(head):
        encoding, _ = tokenize.detect_encoding(io.BytesIO(source).readline)
        return source.decode(encoding), encoding not in ("utf-8", "utf-8-sig")
    return source.decode("utf-8"), False


def _decode_error_line(source: bytes, exc: Exception) -> int:
    start = getattr(exc, "start", None)
    return source.count(b"\n", 0, start) + 1 if isinstance(start, int) else 0


def _looks_like_python2(source: bytes, exc: SyntaxError) -> bool:
    if any(hint in (exc.msg or "") for hint in _PY2_HINTS):
        return True
    return _PY2_PATTERNS.search(source) is not None


def _docstring(body: list[ast.stmt]) -> str | None:
    if body:
        first = body[0]
        if type(first) is ast.Expr and type(first.value) is ast.Constant:
            value = first.value.value
            if isinstance(value, str):
                if "\n" not in value:  # what cleandoc does to one line, without its work
                    return value.expandtabs().lstrip()
                return inspect.cleandoc(value)
    return None


def _dotted(node: ast.expr) -> list[str] | None:
    """Return the parts of a dotted name (`a.b.c`) or None for any other expression."""
    parts: list[str] = []
    while type(node) is ast.Attribute:
        parts.append(node.attr)
        node = node.value
    if type(node) is ast.Name:
        parts.append(node.id)
        parts.reverse()
        return parts
    return None


class _Extractor:
    """Walk one parsed module once and collect its record."""

    def __init__(self, tree: ast.Module, source: bytes, module: str, is_package: bool) -> None:
        self.tree = tree
        self.lines = source.split(b"\n")
        self.module = module
        self.package = module if is_package else module.rpartition(".")[0]
        self.bindings: dict[str, str] = {}
        self.imports: list[tuple[str, str, int, bool]] = []
        self.classes: list[tuple[Any, ...]] = []
        self.functions: list[tuple[Any, ...]] = []
        self.class_methods: dict[str, set[str]] = {}
        self.star_imports: list[str] = []
        self.all_names: list[str] | None = None
        self.conv: dict[str, int] = dict.fromkeys(
            ("fn_snake", "fn_camel", "fn_other", "var_snake", "var_camel", "var_other",
             "cls_pascal", "cls_other", "raises", "excepts", "sentinel_returns",
             "code_returns", "code_checks", "async_defs", "awaits", "asyncio_uses",
             "thread_uses", "quote_single", "quote_double", "doc_google", "doc_numpy",
             "doc_rest", "doc_epytext", "doc_plain", "doc_missing", "annotated",
             "fully_annotated", "functions", "lines_total", "long_lines"), 0)
        self.long_lines: dict[int, int] = {}
        self.quote_samples = 0

    # -- module level -------------------------------------------------------------------

    def run(self) -> tuple[Any, ...]:
        """Collect the module's record."""
        self._bind_block(self.tree.body, "", top=True)
        self._define_block(self.tree.body, "", None)
        self._measure_lines()
        return ("ok", len(self.lines) - (1 if self.lines[-1] == b"" else 0),
                _docstring(self.tree.body), tuple(self.imports), tuple(self.classes),
                tuple(self.functions), self.bindings, self.all_names, self.conv,
                tuple(self.star_imports))

    def _measure_lines(self) -> None:
        lengths = list(filter(_LONG_LINE.__lt__, map(len, self.lines)))
        self.conv["lines_total"] = len(self.lines)
        self.conv["long_lines"] = len(lengths)
        for n in lengths:
            self.long_lines[n] = self.long_lines.get(n, 0) + 1
        self.conv.update({f"len_{n}": c for n, c in self.long_lines.items()})

    def _bind_block(self, body: list[ast.stmt], prefix: str, top: bool) -> None:
        """Record what the module (or a class) binds, before any function is walked."""
        for stmt in body:
            t = type(stmt)
            if t in _DEF_TYPES or t is ast.ClassDef:
                name = stmt.name  # type: ignore[attr-defined]
                if top:
                    self.bindings[name] = f"{self.module}.{name}"
                    if t is ast.ClassDef:
                        self._count_class_name(name)
                else:
                    self.class_methods.setdefault(prefix, set()).add(name)
                if t is ast.ClassDef:
                    self._bind_block(stmt.body, f"{prefix}{name}.", top=False)  # type: ignore[attr-defined]
            elif top and t in (ast.Import, ast.ImportFrom):
                self._import(stmt)  # type: ignore[arg-type]
            elif top and t in (ast.If, ast.Try, ast.TryStar, ast.With):
                for field in ("body", "orelse", "finalbody"):
                    self._bind_block(getattr(stmt, field, []), prefix, top)
                for handler in getattr(stmt, "handlers", ()):
                    self._bind_block(handler.body, prefix, top)
            elif top and t in (ast.Assign, ast.AnnAssign, ast.AugAssign):
                self._module_assign(stmt)

    def _import(self, stmt: ast.Import | ast.ImportFrom) -> None:
        line = stmt.lineno
        self._count_import(stmt)
        if type(stmt) is ast.Import:
            for alias in stmt.names:
                if alias.asname:
                    bound, target = alias.asname, alias.name
                else:
                    bound = target = alias.name.partition(".")[0]
                    self.imports.append((alias.name, bound, line, False))
                    self.bindings.setdefault(bound, target)
                    continue
                self.imports.append((target, bound, line, False))
                self.bindings[bound] = target
            return
        assert isinstance(stmt, ast.ImportFrom)
        base = self._absolute(stmt.module or "", stmt.level)
        for alias in stmt.names:
            if alias.name == "*":
                self.star_imports.append(base)
                self.imports.append((base, "*", line, True))
                continue
            target = f"{base}.{alias.name}" if base else alias.name
            bound = alias.asname or alias.name
            self.imports.append((target, bound, line, True))
            self.bindings[bound] = target

    def _count_import(self, stmt: ast.Import | ast.ImportFrom) -> None:
        if isinstance(stmt, ast.Import):
            modules = [a.name for a in stmt.names]
        else:
            modules = [stmt.module or ""]
        for name in modules:
            if name.startswith(("asyncio", "trio", "anyio")):
                self.conv["asyncio_uses"] += 1
            elif name.startswith(("threading", "_thread", "concurrent.futures")):
                self.conv["thread_uses"] += 1

    def _absolute(self, module: str, level: int) -> str:
        if not level:
            return module
        parts = self.package.split(".") if self.package else []
        if level > 1:
            parts = parts[: len(parts) - (level - 1)] if level - 1 <= len(parts) else []
        base = ".".join(parts)
        return f"{base}.{module}" if base and module else (base or module)

    def _module_assign(self, stmt: ast.stmt) -> None:
        targets = stmt.targets if type(stmt) is ast.Assign else [stmt.target]  # type: ignore[attr-defined]
        for target in targets:
            if type(target) is not ast.Name:
                continue
            name = target.id
            if name == "__all__":
                self._read_all(stmt)
            elif type(stmt) is not ast.AugAssign:
                self.bindings.setdefault(name, f"{self.module}.{name}")

    def _read_all(self, stmt: ast.stmt) -> None:
        """Read `__all__ = [...]` / `+= [...]` when the value is a literal (best effort)."""
        value = stmt.value  # type: ignore[attr-defined]
        names = [str(c.value) for c in _literal_strings(value)]
        if type(stmt) is ast.AugAssign or (self.all_names is not None
                                           and type(value) is ast.BinOp):
            self.all_names = (self.all_names or []) + names
        else:
            self.all_names = names

    # -- definitions --------------------------------------------------------------------

    def _define_block(self, body: list[ast.stmt], prefix: str, cls: str | None) -> None:
        for stmt in body:
            t = type(stmt)
            if t in _DEF_TYPES:
                self._function(stmt, prefix, cls)  # type: ignore[arg-type]
            elif t is ast.ClassDef:
                self._class(stmt, prefix)  # type: ignore[arg-type]
            elif t in (ast.If, ast.Try, ast.TryStar, ast.With):
                for field in ("body", "orelse", "finalbody"):
                    self._define_block(getattr(stmt, field, []), prefix, cls)
                for handler in getattr(stmt, "handlers", ()):
                    self._define_block(handler.body, prefix, cls)

    def _class(self, node: ast.ClassDef, prefix: str) -> None:
        qual = f"{prefix}{node.name}"
        bases = tuple(self._candidate(b) or "" for b in node.bases)
        methods = tuple(s.name for s in node.body if type(s) in _DEF_TYPES)  # type: ignore[attr-defined]
        self.classes.append((qual, node.name, node.lineno, node.end_lineno or node.lineno,
                             self._decorators(node), _docstring(node.body), bases, methods))
        self._define_block(node.body, f"{qual}.", qual)

    def _candidate(self, expr: ast.expr) -> str | None:
        """Resolve a dotted expression against the module's bindings (file-local)."""
        parts = _dotted(expr)
        if parts is None:
            return None
        bound = self.bindings.get(parts[0])
        if bound is None:
            return None
        return ".".join([bound, *parts[1:]])

    def _segment(self, node: ast.AST) -> str:
        """Return the node's source text, sliced from the raw lines (cheaper than unparse)."""
        line, end = node.lineno - 1, (node.end_lineno or node.lineno) - 1  # type: ignore[attr-defined]
        col, end_col = node.col_offset, node.end_col_offset  # type: ignore[attr-defined]
        if line == end:
            raw = self.lines[line][col:end_col]
        else:
            raw = b" ".join([self.lines[line][col:].strip(),
                             *(x.strip() for x in self.lines[line + 1:end]),
                             self.lines[end][:end_col].strip()])
        return str(raw.decode("utf-8", "replace"))

    def _decorators(self, node: ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef,
                    ) -> tuple[str, ...]:
        decorators = node.decorator_list
        return tuple(map(self._segment, decorators)) if decorators else ()

    def _signature(self, args: ast.arguments, returns: ast.expr | None,
                   ) -> tuple[str, tuple[str, ...], bool, bool]:
        """Return the signature text, the parameter names, and whether hints are used."""
        parts: list[str] = []
        names: list[str] = []
        hinted = total = 0
        segment = self._segment
        posonly = args.posonlyargs
        positional = posonly + args.args if posonly else args.args
        defaults = args.defaults
        first_default = len(positional) - len(defaults)
        slash = len(posonly) - 1  # after the last positional-only parameter
        # Written out rather than through `_param`: this runs for every function.
        for i, arg in enumerate(positional):
            name = arg.arg
            names.append(name)
            counted = i > 0 or name not in ("self", "cls")
            annotation = arg.annotation
            if annotation is None:
                text = name
                if i >= first_default:
                    text += "=" + segment(defaults[i - first_default])
            else:
                text = f"{name}: {segment(annotation)}"
                if i >= first_default:
                    text += " = " + segment(defaults[i - first_default])
                hinted += counted
            parts.append(text)
            total += counted
            if i == slash:
                parts.append("/")
        if args.vararg:
            names.append(args.vararg.arg)
            hinted, total = self._param(parts, args.vararg, None, "*", True, hinted, total)
        elif args.kwonlyargs:
            parts.append("*")
        for arg, kw_default in zip(args.kwonlyargs, args.kw_defaults, strict=True):
            names.append(arg.arg)
            hinted, total = self._param(parts, arg, kw_default, "", True, hinted, total)
        if args.kwarg:
            names.append(args.kwarg.arg)
            hinted, total = self._param(parts, args.kwarg, None, "**", True, hinted, total)
        text = f"({', '.join(parts)})"
        if returns is not None:
            text += f" -> {self._segment(returns)}"
            hinted += 1
        total += 1
        return text, tuple(names), hinted > 0, hinted == total

    def _param(self, parts: list[str], arg: ast.arg, default: ast.expr | None, star: str,
               counted: bool, hinted: int, total: int) -> tuple[int, int]:
        text = star + arg.arg
        if arg.annotation is not None:
            text += f": {self._segment(arg.annotation)}"
            hinted += counted
        if default is not None:
            text += (" = " if arg.annotation is not None else "=") + self._segment(default)
        parts.append(text)
        return hinted, total + counted

    def _function(self, node: ast.FunctionDef | ast.AsyncFunctionDef, prefix: str,
                  cls: str | None) -> None:
        qual = f"{prefix}{node.name}"
        is_async = type(node) is ast.AsyncFunctionDef
        signature, params, annotated, full = self._signature(node.args, node.returns)
        doc = _docstring(node.body)
        self._count_function(node.name, doc, annotated, full, is_async)
        walk = _BodyWalk(self, qual, cls, params)
        walk.run(node.body[1:] if doc is not None else node.body)
        # Decorators come in source order: the first starts the definition.
        first = node.decorator_list[0].lineno if node.decorator_list else node.lineno
        self.functions.append((
            qual, node.name, cls, is_async, node.lineno, node.end_lineno or node.lineno,
            node.col_offset, node.end_col_offset or 0, first, signature, params,
            self._decorators(node), doc, walk.complexity,
            tuple(sorted(walk.loops, key=_LOOP_ORDER)), tuple(sorted(walk.calls, key=_LINE_OF)),
            annotated, full))
        for inner in walk.nested:
            if type(inner) is ast.ClassDef:
                self._class(inner, f"{qual}.<locals>.")
            else:
                self._function(inner, f"{qual}.<locals>.", None)  # type: ignore[arg-type]

    # -- convention counters --------------------------------------------------------------

    def _count_function(self, name: str, doc: str | None, annotated: bool, full: bool,
                        is_async: bool) -> None:
        conv = self.conv
        conv["functions"] += 1
        conv["annotated"] += annotated
        conv["fully_annotated"] += full
        conv["async_defs"] += is_async
        if not (name.startswith("__") and name.endswith("__")):
            conv[_FN_KEYS.get(name) or _style_key(_FN_KEYS, "fn_", name)] += 1
        if doc is None:
            conv["doc_missing"] += 1
        else:
            conv["doc_" + _doc_style(doc)] += 1

    def _count_class_name(self, name: str) -> None:
        bare = name.lstrip("_")
        pascal = bare[:1].isupper() and "_" not in bare and not bare.isupper()
        self.conv["cls_pascal" if pascal or len(bare) == 1 else "cls_other"] += 1

    def count_quote(self, node: ast.Constant) -> None:
        """Sample the quote character of a one-line string literal."""
        if self.quote_samples >= _MAX_QUOTE_SAMPLES or node.lineno != node.end_lineno:
            return
        line = self.lines[node.lineno - 1]
        pos = node.col_offset
        while pos < len(line) and line[pos] in b"rRbBuUfF" and pos - node.col_offset < 2:
            pos += 1
        if pos >= len(line):
            return
        quote = line[pos]
        if quote not in (34, 39) or line[pos + 1:pos + 3] == bytes((quote, quote)):
            return
        self.quote_samples += 1
        self.conv["quote_double" if quote == 34 else "quote_single"] += 1


def _style_key(keys: dict[str, str], prefix: str, name: str) -> str:
    """Return the convention counter of a name, remembered in keys (names repeat)."""
    if len(keys) > _MAX_STYLE_KEYS:
        keys.clear()
    key = keys[name] = prefix + _name_style(name)
    return key


_VAR_KEYS: dict[str, str] = {}
_FN_KEYS: dict[str, str] = {}
_MAX_STYLE_KEYS = 100_000


def _name_style(name: str) -> str:
    bare = name.strip("_")
    if not bare or bare.isupper():
        return "other"
    if bare.islower():
        return "snake" if "_" in bare else "other"  # one lowercase word fits both styles
    if bare[0].islower() and "_" not in bare:
        return "camel"
    return "other"


def _doc_style(doc: str) -> str:
    if ":param" in doc or ":returns:" in doc or ":rtype:" in doc or ":raises" in doc:
        return "rest"
    if "@param" in doc or "@return" in doc:
        return "epytext"
    if "\n----" in doc and ("Parameters" in doc or "Returns" in doc):
        return "numpy"
    if "Args:" in doc or "Returns:" in doc or "Raises:" in doc or "Yields:" in doc:
        return "google"
    return "plain"


def _literal_strings(node: ast.expr) -> list[ast.Constant]:
    if type(node) in (ast.List, ast.Tuple):
        return [e for e in node.elts if isinstance(e, ast.Constant)  # type: ignore[attr-defined]
                and isinstance(e.value, str)]
    if type(node) is ast.BinOp:
        return _literal_strings(node.left) + _literal_strings(node.right)
    return []


class _BodyWalk:
    """One pass over a function body: complexity, loops, calls and convention evidence."""

    def __init__(self, owner: _Extractor, qual: str, cls: str | None,
                 params: tuple[str, ...]) -> None:
        self.owner = owner
        self.qual = qual
        self.cls = cls
        self.params = params
        self.complexity = 1
        self.loops: list[tuple[str, int, int, int]] = []
        self.calls: list[tuple[str, str, int]] = []
        self.nested: list[ast.stmt] = []

    def run(self, body: list[ast.stmt]) -> None:
        """Walk the body once; the stack holds nodes and depth markers."""
        owner, conv, getters, special = self.owner, self.owner.conv, _CHILDREN, _SPECIAL
        loops, nested = self.loops, self.nested
        marker = _DEPTH_MARKER
        stack: list[Any] = list(reversed(body))
        pop, push, extend = stack.pop, stack.append, stack.extend
        depth = 0
        complexity = 1
        returns: set[Any] = set()
        Name, Constant, Attribute, Call = ast.Name, ast.Constant, ast.Attribute, ast.Call
        var_keys = _VAR_KEYS
        while stack:
            node = pop()
            t = type(node)
            if t is Name:
                if type(node.ctx) is _STORE:
                    conv[var_keys.get(node.id) or _style_key(var_keys, "var_", node.id)] += 1
                continue
            if t is Constant:
                if type(node.value) is str and owner.quote_samples < _MAX_QUOTE_SAMPLES:
                    owner.count_quote(node)
                continue
            if t is Attribute:
                # A dotted chain ends in a loaded name, which holds nothing to count.
                node = node.value
                while type(node) is Attribute:
                    node = node.value
                if type(node) is not Name:
                    push(node)
                continue
            if t is Call:
                if not self._call(node):
                    push(node.func)  # a dotted callee holds nothing more to visit
                extend(node.args)
                extend(node.keywords)
                continue
            # One look-up sorts out the rest: most nodes are nothing special.
            kind = special.get(t)
            if kind is not None:
                if kind == _MARKER:
                    depth -= 1
                    continue
                if kind == _LOOP:
                    complexity += 1
                    depth += 1
                    loops.append((_LOOP_KIND[t], node.lineno, node.end_lineno, depth))
                    extend(node.orelse)
                    if t is not ast.While:
                        push(node.iter)
                        push(node.target)
                    else:
                        push(node.test)
                    push(marker)
                    extend(node.body)
                    continue
                if kind == _COMP:
                    # Generator i runs at depth+i; its iterable is evaluated one level out,
                    # and the element innermost. Markers restore the depth level by level.
                    generators = node.generators
                    count = len(generators)
                    for i, gen in enumerate(generators):
                        complexity += 1 + len(gen.ifs)
                        loops.append(("comprehension", node.lineno, node.end_lineno,
                                      depth + i + 1))
                    push(generators[0].iter)
                    for i, gen in enumerate(generators):
                        push(marker)
                        if i + 1 < count:
                            push(generators[i + 1].iter)
                        extend(gen.ifs)
                    if t is ast.DictComp:
                        push(node.key)
                        push(node.value)
                    else:
                        push(node.elt)
                    depth += count
                    continue
                if kind == _BRANCH:
                    complexity += 1
                elif kind == _BOOL:
                    complexity += len(node.values) - 1
                elif kind == _EXCEPT:
                    complexity += 1
                    conv["excepts"] += 1
                elif kind == _RAISE:
                    if node.exc is not None:
                        conv["raises"] += 1
                elif kind == _RETURN:
                    self._return(node.value, returns)
                elif kind == _COMPARE:
                    self._compare(node)
                elif kind == _AWAIT:
                    conv["awaits"] += 1
                elif kind == _FSTRING:
                    extend(v.value for v in node.values if type(v) is ast.FormattedValue)
                    continue
                elif kind == _NESTED:
                    nested.append(node)
                    continue
                else:  # an import inside a function binds nothing we follow
                    continue
            children = getters.get(t)
            if children is None:
                continue
            if type(children) is str:
                value = getattr(node, children)
                if value is not None:
                    if type(value) is list:
                        extend(value)
                    else:
                        push(value)
                continue
            for value in children(node):
                if value is None:
                    continue
                if type(value) is list:
                    extend(value)
                else:
                    push(value)
        self.complexity = complexity
        if len(returns) > 1 and returns <= _CODE_VALUES:
            conv["code_returns"] += 1

    def _call(self, node: ast.Call) -> bool:
        """Record a call site; return whether its callee is a dotted name (`a.b.c`)."""
        func = node.func
        owner = self.owner
        if type(func) is ast.Name:  # the commonest callee: `f(...)`
            head = expr = func.id
            if head in self.params:
                return True
            bound = owner.bindings.get(head)
            if bound is not None:
                candidate = bound
            elif head in _BUILTINS:
                return True
            elif owner.star_imports:
                candidate = f"{owner.star_imports[0]}.{head}"
            else:
                return True
        else:
            parts = _dotted(func)
            if parts is None:
                if type(func) is ast.Attribute:
                    name = _intern("." + func.attr)
                    self.calls.append((name, name, node.lineno))
                return False
            head = parts[0]
            expr = ".".join(parts)
            if head in ("self", "cls") and self.cls is not None and len(parts) == 2:
                candidate = f"{owner.module}.{self.cls}.{parts[1]}"
            elif head in self.params:
                candidate = "." + parts[-1]
            else:
                bound = owner.bindings.get(head)
                if bound is not None:
                    candidate = ".".join([bound, *parts[1:]])
                elif head in _BUILTINS:
                    return True
                else:
                    candidate = "." + parts[-1]
        if candidate.startswith(_CONCURRENCY_PREFIXES):
            if candidate.startswith(_ASYNC_PREFIXES):
                owner.conv["asyncio_uses"] += 1
            elif candidate.startswith(_THREAD_PREFIXES) or candidate in _THREAD_POOL:
                owner.conv["thread_uses"] += 1
        # Interned: repeated names are shared through pickling and the marshal cache.
        self.calls.append((_intern(expr), _intern(candidate), node.lineno))
        return True

    def _return(self, value: ast.expr | None, returns: set[Any]) -> None:
        """Count sentinel and error-code returns (`return -1`, `return None` among values)."""
        if value is None:
            return
        conv = self.owner.conv
        if type(value) is ast.UnaryOp and type(value.op) is ast.USub \
                and type(value.operand) is ast.Constant and type(value.operand.value) is int:
            conv["sentinel_returns"] += 1
            returns.add(-value.operand.value)
        elif type(value) is ast.Constant:
            if value.value is None or value.value is False:
                conv["sentinel_returns"] += 1
            if type(value.value) is int:
                returns.add(value.value)
            else:
                returns.add(None)
        else:
            returns.add("value")

    def _compare(self, node: ast.Compare) -> None:
        """Count checks of a call's result against an error code (`f() != 0`, `== -1`)."""
        left = node.left
        if type(left) is not ast.Call or len(node.comparators) != 1:
            return
        if type(left.func) is ast.Name and left.func.id in _BUILTINS:
            return  # len(x) == 0 is no error code
        right = node.comparators[0]
        negative = type(right) is ast.UnaryOp and type(right.op) is ast.USub
        if negative or (type(right) is ast.Constant and type(right.value) is int
                        and right.value == 0):
            self.owner.conv["code_checks"] += 1


_DEPTH_MARKER = object()


# Sort keys (in C): a call by its line; a loop by its line, then its depth.
_LINE_OF = operator.itemgetter(2)
_LOOP_ORDER = operator.itemgetter(1, 3)
_LOOP_KIND = {ast.For: "for", ast.AsyncFor: "async for", ast.While: "while"}
# A function whose constant returns are all small integers reads as error-code style.
_CODE_VALUES = frozenset({-2, -1, 0, 1, 2, None})
