"""Sub-commands of `polyhunter`: each module here defines click commands and lists them in `COMMANDS`.

`polyhunter.cli` discovers the modules, so adding an area of the CLI is adding a module, nothing else.
"""
