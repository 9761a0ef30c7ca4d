"""The demo's sample repository: a small package with a planted hot spot and its tests (data)."""

from __future__ import annotations

SAMPLE_FILES: dict[str, str] = {
    "README.md": (
        "# graphs\n\nBreadth-first walks over adjacency lists. The queue is a list popped from\n"
        "the front, which is quadratic on wide graphs: the hot spot selfmod finds in the demo.\n"),
    ".github/selfmod.yml": (
        "goals: [improve_performance]\nsafety_level: conservative\n"
        "max_open_pull_requests: 3\n"),
    "graphs/__init__.py": '"""Graph helpers."""\n',
    "graphs/walk.py": (
        '"""Walking a graph breadth first."""\n\n\n'
        "def breadth_first(graph, start):\n"
        '    """Return the nodes reachable from start, nearest first."""\n'
        "    seen = {start}\n"
        "    order = []\n"
        "    queue = [start]\n"
        "    while queue:\n"
        "        node = queue.pop(0)\n"
        "        order.append(node)\n"
        "        for nxt in graph.get(node, ()):\n"
        "            if nxt not in seen:\n"
        "                seen.add(nxt)\n"
        "                queue.append(nxt)\n"
        "    return order\n"),
    "tests/test_walk.py": (
        "from graphs.walk import breadth_first\n\n\n"
        "def _star(n):\n"
        "    return {0: list(range(1, n + 1))}\n\n\n"
        "def test_small_graph_order():\n"
        '    graph = {"a": ["b", "c"], "b": ["d"], "c": ["d"], "d": []}\n'
        '    assert breadth_first(graph, "a") == ["a", "b", "c", "d"]\n\n\n'
        "def test_wide_graph_visits_everything():\n"
        "    order = breadth_first(_star(20000), 0)\n"
        "    assert order[:3] == [0, 1, 2]\n"
        "    assert len(order) == 20001\n\n\n"
        "def test_unknown_start_is_alone():\n"
        '    assert breadth_first({}, "x") == ["x"]\n'),
}
