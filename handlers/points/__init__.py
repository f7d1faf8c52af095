"""Points, leaderboards, rewards and the 海贝分 credit export."""
