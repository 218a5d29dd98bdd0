"""What the replay experiments share: the paper ids."""

REVIEW = "2109.10034"        # Roscow, Chua, Costa, Jones & Lepora 2021, "Learning offline"
PER_PAPER = "1511.05952"     # Schaul, Quan, Antonoglou & Silver 2016, "Prioritized experience replay"
GR_PAPER = "1705.08690"      # Shin, Lee, Kim & Kim 2017, "Continual learning with deep generative replay"
