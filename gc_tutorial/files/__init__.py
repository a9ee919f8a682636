"""Files a comparison writes: results written whole, locks, the machine they record.

A comparison kept in memory, as notebooks 1-4 run it, loads none of these: `run_comparison`
saves with `saving` (on `storage`, with the machine from `environment`) only when given
`output_dir`.
"""
