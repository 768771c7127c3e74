"""Pure decisions over plain data and an explicit `now`. Never imports kopf or kubernetes."""
