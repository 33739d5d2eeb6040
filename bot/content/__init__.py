"""The content team's tools: checking and building the knowledge (``checks``), the alternate phrasings'
check, what a build changes (``diff``), the waiting build, evaluation and scope calibration, the report
and the dashboard's question list and trends, importing a clinic's pages, and their commands."""
