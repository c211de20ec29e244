"""Wire vocabulary shared by the service, the agent, the CLI and the simulator.

Pure: no network, disk or database code lives here.
"""
