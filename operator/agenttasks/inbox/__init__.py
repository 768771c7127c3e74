"""What the HTTP side hands to the controller: agent progress and delivery counts.

These facts reach an object's status only through the reconciler that owns that status (one
writer per object). The web handlers put them here; the reconcilers take them out. In
memory, no I/O: an operator killed meanwhile loses at most a second of progress or a few
seconds of counts, never a task.
"""
