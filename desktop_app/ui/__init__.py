"""The Qt layer: widgets, the chat controller and the engine thread bridge."""
