"""Pure builders and parsers of Kubernetes objects: the Jobs, child tasks, ConfigMaps and
owner references the operator writes, and the facts (``*_facts``) it reads from watch events.
No I/O: the shell passes bodies in and sends what comes out."""
