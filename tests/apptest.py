"""AppTest helpers.

Streamlit 1.67's AppTest does not execute the script again on a second ``run()`` of an
``st.navigation`` app when it asks for the page the previous run finished on (nothing
runs and the sidebar comes back empty). Asking for the default page — an empty page
hash — runs the entrypoint as the real server does on every rerun.
"""

from __future__ import annotations

from streamlit.testing.v1 import AppTest

from tests.conftest import ROOT


def new_app(query_params: dict[str, str] | None = None) -> AppTest:
    at = AppTest.from_file(str(ROOT / "Home.py"), default_timeout=180)
    if query_params:
        at.query_params.update(query_params)
    return at


def rerun(at: AppTest) -> AppTest:
    at._finished_page_script_hash = ""
    return at.run()
