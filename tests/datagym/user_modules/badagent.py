"""A user's agent that raises: the CLI must say so in one line and exit 1."""

from datagym.agents import SkillListAgent

class Boom(SkillListAgent):
    def act(self, observation, info):
        return 1 / 0
