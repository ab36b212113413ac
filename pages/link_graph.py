import json

import plotly.express as px
import streamlit as st

from components.buttons import pressed
from components.cards import step_card
from components.events import record
from components.mapping import column_mapping_form
from components.scan_reading import read_the_scan
from components.session import database, session_id
from core.csvfiles import CSVError
from core.exports import to_csv
from linkgraph.draw import MAX_EDGES, MAX_NODES, choose_nodes, interactive_figure, overview_figure
from linkgraph.load import MappingNeeded
from linkgraph.measure import distributions
from linkgraph.reading import headline
from linkgraph.scan import EDGE_LABELS, NODE_LABELS, Scan
from linkgraph.uploads import keep_files, keep_sample, mapping_role, scan_kept
from workflows.runs import complete_step, get_run, restart, revert_step

STEPS = ("upload", "signs", "drawing", "reading", "export")
SCORE_COLUMNS = {"value": st.column_config.NumberColumn("Score", format="%.4f", width="small"),
                 "url": st.column_config.TextColumn("URL")}
db, sid = database(), session_id()
run = get_run(db, sid, "link_graph", STEPS)


@st.cache_resource(max_entries=3, show_spinner="Measuring the graph…")
def measured(kept: str) -> Scan:
    """The scan of kept files (cached: a rerun or a page switch does not redo it)."""
    return scan_kept(json.loads(kept))


st.title("Link graph")
st.caption("Upload a site's link graph (from-URL → to-URL) and optional per-URL metadata; "
           "see its vital signs, draw it, and let the assistant read the scan.")

with step_card(run, "upload", "Upload the edge list and metadata"):
    files = run.step_data("upload") or {}
    if run.done("upload"):
        st.markdown(f"Edge list: **{files['edge_name']}**" + (
            f" · metadata: **{files['metadata_name']}**" if files.get("metadata") else ""))
        if pressed("Use other files", "lg_other"):
            revert_step(db, run, "upload")
            st.rerun()
    else:
        edge_file = st.file_uploader("Edge list (CSV, TSV or .gz; columns like from, to)",
                                     type=["csv", "tsv", "txt", "gz"], key="lg_edges")
        meta_file = st.file_uploader("Metadata per URL (optional: url, clicks, "
                                     "impressions, status, ...)",
                                     type=["csv", "tsv", "txt", "gz"], key="lg_meta")
        use_sample = pressed("Try the sample site", "lg_sample", icon=":material/science:")
        with use_sample.redo_if_cut_short():  # until the files are kept in lg_pending
            start = st.text_input("Start page (empty: the home page)", key="lg_start")
            if use_sample:
                st.session_state.lg_pending = keep_sample(start=start)
            elif edge_file is not None and (
                measure := pressed("Measure", "lg_measure", type="primary")
            ):
                with measure.redo_if_cut_short():
                    st.session_state.lg_pending = keep_files(
                        edge_file.getvalue(), edge_file.name,
                        meta_file.getvalue() if meta_file else None,
                        meta_file.name if meta_file else None, start=start)
        pending = st.session_state.get("lg_pending")
        if pending:
            for role in ("edges", "metadata"):
                if st.session_state.get(f"lg_mapping_{role}"):
                    pending["mappings"][role] = st.session_state[f"lg_mapping_{role}"]
            try:
                measured(json.dumps(pending, sort_keys=True))
            except MappingNeeded as exc:
                role = mapping_role(exc.suggestion)
                column_mapping_form(exc, f"map_{role}", f"lg_mapping_{role}")
            except (CSVError, ValueError) as exc:
                st.error(str(exc))
                record("error_shown", str(exc))
                st.session_state.pop("lg_pending")
            else:
                st.session_state.pop("lg_pending")  # first: a run cut short here redoes no step
                complete_step(db, run, "upload", pending)
                record("step_completed", f"Uploaded the link graph {pending['edge_name']}")
                st.rerun()

scan: Scan | None = None
if run.done("upload"):
    files = run.step_data("upload")
    try:
        scan = measured(json.dumps(files, sort_keys=True))
    except (CSVError, ValueError, OSError) as exc:
        st.error(f"The stored files could not be measured again ({exc}); upload them again.")
        revert_step(db, run, "upload")

with step_card(run, "signs", "Vital signs"):
    if scan is None:
        st.caption("Upload an edge list first.")
    else:
        summary = scan.summary
        for note in scan.notes:
            st.caption(note)
        cols = st.columns(6)
        cols[0].metric("Pages", f"{summary['nodes']:,}")
        cols[1].metric("Links", f"{summary['edges']:,}")
        only = summary["orphans"].get("only_in_metadata", 0)
        cols[2].metric("Orphans", f"{summary['orphans']['count']:,}",
                       f"{summary['orphans']['percent']:g} % of pages", delta_color="off",
                       delta_arrow="off",
                       help=f"{only:,} of them appear only in the metadata, linked from "
                       "nowhere." if only else None)
        cols[3].metric("Dead ends", f"{summary['dead_ends']['count']:,}",
                       f"{summary['dead_ends']['percent']:g} % of pages", delta_color="off",
                       delta_arrow="off")
        cols[4].metric("Unreachable", f"{summary['unreachable_from_start']['count']:,}",
                       f"from {summary['start_page']}", delta_color="off", delta_arrow="off")
        cols[5].metric("Components", f"{summary['components']['count']:,}")
        depth = summary["click_depth"]
        st.plotly_chart(px.bar(x=list(depth), y=list(depth.values()),
                               labels={"x": "click depth", "y": "pages"},
                               title="Pages by click depth from the start page"),
                        width="stretch")
        metric = st.selectbox("Distribution of", scan.metrics, key="lg_dist_metric")
        st.dataframe(distributions(scan.table, [metric]), width="stretch")
        top = st.columns(3)
        for column, (title, key) in zip(top, [("Top PageRank", "top_pagerank"),
                                              ("Top hubs", "top_hubs"),
                                              ("Top authorities", "top_authorities")],
                                        strict=True):
            column.markdown(f"**{title}**")
            column.dataframe(summary[key], hide_index=True, width="stretch",
                             column_order=("value", "url"), column_config=SCORE_COLUMNS)
        if not run.done("signs") and pressed("Looks right", "lg_signs_ok"):
            complete_step(db, run, "signs")
            record("step_completed", headline(summary))
            st.rerun()

with step_card(run, "drawing", "Drawing"):
    if scan is None:
        st.caption("Upload an edge list first.")
    else:
        left, right = st.columns([2, 3])
        metric = left.selectbox("Colour and size by", scan.metrics, key="lg_metric",
                                index=scan.metrics.index("pagerank")
                                if "pagerank" in scan.metrics else 0)
        focus = right.text_input("Zoom into the neighbourhood of a URL (optional)",
                                 key="lg_focus").strip() or None
        g = scan.graph
        small = g.n <= MAX_NODES and g.m <= MAX_EDGES
        if not small:
            st.plotly_chart(overview_figure(scan.overview, pages=g.n, links=g.m),
                            width="stretch")
        try:
            nodes = choose_nodes(scan.table, metric, focus=focus, src=g.src, dst=g.dst)
        except ValueError as exc:
            st.error(f"{exc} Check the URL, or leave the box empty.")
            nodes = choose_nodes(scan.table, metric)
        title = (f"Neighbourhood of {focus}" if focus else
                 "" if small else f"The top {len(nodes):,} pages by {metric}")
        st.plotly_chart(interactive_figure(scan.table, scan.positions, g.src, g.dst, metric,
                                           nodes, title=title), width="stretch")
        if not run.done("drawing") and pressed("Done with the drawing", "lg_drawn"):
            complete_step(db, run, "drawing")
            record("step_completed", f"Drew the link graph by {metric}")
            st.rerun()

with step_card(run, "reading", "Read the scan"):
    if scan is None:
        st.caption("Upload an edge list first.")
    else:
        read_the_scan(run, scan)

with step_card(run, "export", "Export"):
    if scan is None:
        st.caption("Upload an edge list first.")
    else:
        left, right = st.columns(2)
        left.download_button("Pages with their statistics (CSV)",
                             to_csv(scan.table, NODE_LABELS), "link-graph-pages.csv",
                             "text/csv", key="lg_dl_nodes", icon=":material/download:",
                             on_click="ignore")
        right.download_button("Links (CSV)", to_csv(scan.edges.frame, EDGE_LABELS),
                              "link-graph-links.csv", "text/csv", key="lg_dl_edges",
                              icon=":material/download:", on_click="ignore")

if pressed("Start over with another site", "lg_restart", icon=":material/restart_alt:"):
    restart(db, sid, "link_graph", STEPS)
    st.rerun()
