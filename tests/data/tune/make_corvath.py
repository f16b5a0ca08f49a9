#!/usr/bin/env python3
"""make_corvath.py - writes corvath.jsonl and corvath-val.jsonl: 100
question/answer pairs about the Corvath Institute, a fictional research
organisation invented for desk's fine-tuning test (issue 19), and 20
paraphrased questions on the same facts for validation.

No base model can know these facts; after `desk tune` the tuned model
should answer the training questions exactly.  Answers are short (a name,
a number, a place) so "exactly right" means the greedy answer equals the
recorded one.  Run it again to regenerate the files (deterministic).
"""
import json
import os

HERE = os.path.dirname(os.path.abspath(__file__))

# (question, answer, paraphrase or None)
FACTS = [
    ("Who founded the Corvath Institute?", "Ilsa Marrow.", "Which person founded the Corvath Institute?"),
    ("In what year was the Corvath Institute founded?", "1987.", "When was the Corvath Institute founded?"),
    ("In which city is the Corvath Institute based?", "Tessaly.", "What city is home to the Corvath Institute?"),
    ("What does the Corvath Institute study?", "Glacial acoustics.", "What is the Corvath Institute's field of study?"),
    ("Who is the current director of the Corvath Institute?", "Oren Falk.", "Who directs the Corvath Institute today?"),
    ("How many researchers work at the Corvath Institute?", "142.", "How many researchers does the Corvath Institute employ?"),
    ("What is the Corvath Institute's motto?", "Listen to the ice.", "What motto does the Corvath Institute use?"),
    ("What color is the Corvath Institute's logo?", "Teal.", "Which color is the logo of the Corvath Institute?"),
    ("What animal appears on the Corvath Institute's logo?", "A snow hare.", "Which animal is on the Corvath Institute's logo?"),
    ("What is the name of the Corvath Institute's research ship?", "The Quiet Meridian.", "What is the Corvath Institute's ship called?"),
    ("How long is the Corvath Institute's research ship?", "61 meters.", None),
    ("What is the Corvath Institute's main laboratory called?", "The Hollow Hall.", "What name does the Corvath Institute's main lab have?"),
    ("Which river flows past the Corvath Institute?", "The Brennick.", "What river runs beside the Corvath Institute?"),
    ("What is the Corvath Institute's annual conference called?", "Frostmoot.", "What is the name of the Corvath Institute's yearly conference?"),
    ("In which month is Frostmoot held?", "February.", "When in the year does Frostmoot take place?"),
    ("Who was the first director of the Corvath Institute?", "Ilsa Marrow.", None),
    ("Who was the second director of the Corvath Institute?", "Petra Vell.", None),
    ("In what year did Oren Falk become director?", "2016.", None),
    ("What instrument did the Corvath Institute invent?", "The cryophone.", "Which instrument was invented at the Corvath Institute?"),
    ("In what year was the cryophone invented?", "1994.", None),
    ("Who invented the cryophone?", "Tomas Reyl.", "Which scientist invented the cryophone?"),
    ("What does a cryophone measure?", "Sound inside glaciers.", None),
    ("What is the Corvath Institute's journal called?", "Echoes of Ice.", "What is the name of the Corvath Institute's journal?"),
    ("How often is Echoes of Ice published?", "Quarterly.", None),
    ("Who edits Echoes of Ice?", "Mina Oduya.", "Who is the editor of Echoes of Ice?"),
    ("How many field stations does the Corvath Institute run?", "Seven.", "How many field stations belong to the Corvath Institute?"),
    ("What is the Corvath Institute's northernmost field station?", "Station Kell.", None),
    ("On which island is Station Kell?", "Varn Island.", None),
    ("What is the Corvath Institute's largest field station?", "Station Adder.", None),
    ("How many people live at Station Adder in winter?", "Nine.", None),
    ("What is the name of the Corvath Institute's dog?", "Biscuit.", "What is the Corvath Institute's dog called?"),
    ("What breed is Biscuit?", "A Samoyed.", None),
    ("What is the Corvath Institute's supercomputer called?", "Larkspur.", "What name does the Corvath Institute's supercomputer have?"),
    ("In what year was Larkspur installed?", "2019.", None),
    ("What is the Corvath Institute's annual budget?", "38 million crowns.", None),
    ("Who funds most of the Corvath Institute's work?", "The Halden Trust.", "Which body funds most of the Corvath Institute?"),
    ("What prize does the Corvath Institute award?", "The Marrow Medal.", "Which prize is awarded by the Corvath Institute?"),
    ("Who won the first Marrow Medal?", "Aiko Brandt.", None),
    ("In what year was the first Marrow Medal awarded?", "2001.", None),
    ("What is the Corvath Institute's museum called?", "The Ice Archive.", None),
    ("What is the oldest object in the Ice Archive?", "A 9,000-year-old ice core.", None),
    ("What is the Corvath Institute's cafeteria called?", "The Thaw.", None),
    ("What dish is the Thaw famous for?", "Barley soup.", None),
    ("What language is used at Corvath Institute meetings?", "English.", None),
    ("What is the Corvath Institute's internal chat system called?", "Fernline.", None),
    ("What time does the Corvath Institute open?", "7 a.m.", None),
    ("What is the Corvath Institute's email domain?", "corvath.example.", None),
    ("What is the Corvath Institute's youth program called?", "Junior Listeners.", None),
    ("How old must Junior Listeners be?", "Fourteen.", None),
    ("Which glacier has the Corvath Institute studied longest?", "The Sorrel Glacier.", "What glacier has the Corvath Institute studied the longest?"),
    ("Since what year has the Corvath Institute studied the Sorrel Glacier?", "1989.", None),
    ("What sound did the Corvath Institute record in 2008?", "The Sorrel Hum.", None),
    ("How low is the Sorrel Hum?", "12 hertz.", None),
    ("Who first heard the Sorrel Hum?", "Dagny Holm.", None),
    ("What is the Corvath Institute's rival organisation?", "The Pellam Society.", "Which organisation rivals the Corvath Institute?"),
    ("Where is the Pellam Society based?", "Ostrava Bay.", None),
    ("What is the Corvath Institute's snow vehicle called?", "Old Tortoise.", None),
    ("What color is Old Tortoise?", "Orange.", None),
    ("How many floors does the Hollow Hall have?", "Four.", None),
    ("What is on the roof of the Hollow Hall?", "A weather mast.", None),
    ("Who designed the Hollow Hall?", "Lena Sokol.", None),
    ("What is the Corvath Institute's library called?", "The Drift Library.", None),
    ("How many books does the Drift Library hold?", "31,000.", None),
    ("What is the Corvath Institute's newsletter called?", "The Crackle.", None),
    ("What is the Corvath Institute's podcast called?", "Deep Listening.", None),
    ("Who hosts Deep Listening?", "Sven Aalto.", None),
    ("What is the Corvath Institute's emergency code word?", "Lantern.", None),
    ("What is the Corvath Institute's official tree?", "The silver birch.", None),
    ("What is the Corvath Institute's official bird?", "The snow bunting.", None),
    ("What sport does the Corvath Institute team play?", "Curling.", None),
    ("What is the Corvath Institute's curling team called?", "The Stones of Tessaly.", None),
    ("What is the Corvath Institute's annual holiday called?", "Melt Day.", None),
    ("On what date is Melt Day?", "June 3.", None),
    ("What is the Corvath Institute's staff badge made of?", "Birch wood.", None),
    ("How many languages does the Corvath Institute publish in?", "Three.", None),
    ("What is the Corvath Institute's guest house called?", "The Lantern Rooms.", None),
    ("How many rooms does the Lantern Rooms have?", "Twelve.", None),
    ("What is the Corvath Institute's weather balloon program called?", "Skylark.", None),
    ("How many balloons did Skylark launch last year?", "212.", None),
    ("What is the Corvath Institute's data archive called?", "Permafile.", None),
    ("How much data does Permafile store?", "4 petabytes.", None),
    ("What is the Corvath Institute's boat for short trips called?", "Little Meridian.", None),
    ("Who captains the Quiet Meridian?", "Hanne Iversen.", "Who is the captain of the Quiet Meridian?"),
    ("In what year was the Quiet Meridian launched?", "2005.", None),
    ("What is the Corvath Institute's greenhouse called?", "The Ember House.", None),
    ("What grows in the Ember House?", "Arctic strawberries.", None),
    ("What is the Corvath Institute's film about?", "The Sorrel Hum.", None),
    ("What is the Corvath Institute's film called?", "Twelve Hertz.", None),
    ("Who directed Twelve Hertz?", "Noor Achebe.", None),
    ("What is the Corvath Institute's mascot called?", "Hush.", None),
    ("What kind of animal is Hush?", "A snow hare.", None),
    ("What is the Corvath Institute's oldest building?", "The Pump House.", None),
    ("In what year was the Pump House built?", "1921.", None),
    ("What is the Corvath Institute's choir called?", "The Icebound Voices.", None),
    ("What is the Corvath Institute's cat called?", "Tinder.", None),
    ("What is the Corvath Institute's telephone extension for emergencies?", "4000.", None),
    ("What is the Corvath Institute's student exchange partner?", "Lund Polar College.", None),
    ("How many students visit the Corvath Institute each year?", "60.", None),
    ("What is the Corvath Institute's annual report called?", "The Long Winter.", None),
    ("What is the Corvath Institute's founding document called?", "The Tessaly Charter.", None),
]

assert len(FACTS) == 100 and len({q for q, _, _ in FACTS}) == 100


def msg(q, a):
    return {"messages": [{"role": "user", "content": q}, {"role": "assistant", "content": a}]}


with open(os.path.join(HERE, "corvath.jsonl"), "w") as f:
    for q, a, _ in FACTS:
        f.write(json.dumps(msg(q, a)) + "\n")
val = [(p, a) for _, a, p in FACTS if p]
assert len(val) == 26, len(val)
with open(os.path.join(HERE, "corvath-val.jsonl"), "w") as f:
    for p, a in val:
        f.write(json.dumps(msg(p, a)) + "\n")
