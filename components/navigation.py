"""The app's pages, in one place: Home.py navigates with them, the assistant's
"go to page" action looks them up by title."""

from __future__ import annotations

import streamlit as st

_PAGES = (
    ("pages/home.py", "Home", ":material/home:"),
    ("pages/introduction.py", "Introduction", ":material/waving_hand:"),
    ("pages/tasks.py", "Tasks", ":material/checklist:"),
    ("pages/competitive.py", "Competitive analysis", ":material/query_stats:"),
    ("pages/link_graph.py", "Link graph", ":material/hub:"),
    ("pages/long_job.py", "Long job", ":material/hourglass_top:"),
    ("pages/experts.py", "Experts", ":material/psychology:"),
    ("pages/memory.py", "Memory", ":material/neurology:"),
    ("pages/costs.py", "Costs", ":material/payments:"),
    ("pages/activity.py", "Activity", ":material/history:"),
    ("pages/settings.py", "Settings", ":material/settings:"),
)


def app_pages() -> list[st.Page]:
    return [
        st.Page(path, title=title, icon=icon, default=index == 0)
        for index, (path, title, icon) in enumerate(_PAGES)
    ]


WORKFLOWS = ("Introduction", "Tasks", "Competitive analysis", "Link graph", "Long job")


def workflow_pages() -> list[tuple[str, str, str]]:
    """(path, title, icon) of the workflow pages, for links from Home."""
    return [entry for entry in _PAGES if entry[1] in WORKFLOWS]


def page_titles() -> tuple[str, ...]:
    return tuple(title for _, title, _ in _PAGES)


def page_path(title: str) -> str | None:
    wanted = title.strip().lower()
    for path, name, _ in _PAGES:
        if name.lower() == wanted:
            return path
    return None


def page_routes() -> list[tuple[str, str]]:
    """(title, URL path) of every page, as ``st.navigation`` serves them: the default page
    at the root, the others at their file's name (``/link_graph``)."""
    return [(title, "" if index == 0 else path.removeprefix("pages/").removesuffix(".py"))
            for index, (path, title, _) in enumerate(_PAGES)]
