"""The workflows: step runs, the job runner, and each workflow's own logic (the competitive
analysis, the introduction, the long job). No Streamlit in here."""
