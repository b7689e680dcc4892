"""Layer 5, reporting: runs grouped into configurations with intervals over seeds, the paper's tables and
paired comparisons, their rendering to Markdown and CSV, figures, the console report a job prints and a
sweep's comparison. Imports only layers 0-4.
"""
