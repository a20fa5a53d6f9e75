"""The system's shared vocabulary, importable by every stage (it imports none of them):

  prompts.py   the zero-shot template of METHODS.md, k-shot prompts, the completion that follows
  answers.py   final-answer extraction and normalisation (what `answer` and `gold` columns hold)
"""
