"""The assistant: one chat turn, the intents read by rule, the action registry, its
built-in actions and its model planner. No Streamlit in here."""
