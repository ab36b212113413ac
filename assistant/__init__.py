"""The assistant: one chat turn, the intents read by rule, the action registry, its
built-in actions and its model planner. No Streamlit in here.

The built-in actions are imported here, so they are registered whenever anything in the
package is used (Python runs this file before any ``assistant.*`` module). The registry,
``assistant.actions``, never imports them: the import goes one way, builtin_actions →
actions, and neither module can see the other half-built.
"""

from assistant import builtin_actions as _builtin_actions  # noqa: F401 - registers them
