#!/usr/bin/env python3
"""Writes a 500-step BPMN 2.0 file (Camunda 7 style, with a diagram) for the import timing
in BENCHMARKS.md: a chain of user tasks with candidate groups and due dates, every fifth
followed by an exclusive gateway with a JUEL condition and a default that skips ahead.
Usage: bench/bpmn500.py > /tmp/500.bpmn"""
import sys
from xml.sax.saxutils import escape

N = 500
nodes, flows, shapes = [], [], []
ids = ["start"] + [f"t{i}" for i in range(N - 2)] + ["end"]
kinds = {}
out = []
def flow(i, a, b, cond=None):
    fid = f"f{i}"
    body = f'<bpmn:conditionExpression xsi:type="bpmn:tFormalExpression">{escape("${" + cond + "}")}</bpmn:conditionExpression>' if cond else ""
    flows.append(f'<bpmn:sequenceFlow id="{fid}" sourceRef="{a}" targetRef="{b}">{body}</bpmn:sequenceFlow>')
    return fid
steps = ["start"]
for i in range(N - 2):
    steps.append(f"g{i}" if i % 5 == 4 else f"t{i}")
steps.append("end")
n = 0
for i, s in enumerate(steps):
    x, y = 100 + 150 * i, 100
    if s == "start":
        nodes.append('<bpmn:startEvent id="start" name="Start" />')
    elif s == "end":
        nodes.append('<bpmn:endEvent id="end" name="Gestopt" />')
    elif s.startswith("g"):
        nodes.append(f'<bpmn:exclusiveGateway id="{s}" name="Verder?" default="d{s}" />')
    else:
        nodes.append(f'<bpmn:userTask id="{s}" name="Stap {s}" camunda:candidateGroups="team{int(s[1:]) % 7}" camunda:dueDate="P10D" />')
    shapes.append(f'<bpmndi:BPMNShape id="{s}_di" bpmnElement="{s}"><dc:Bounds x="{x}" y="{y}" width="100" height="80" /></bpmndi:BPMNShape>')
for i, s in enumerate(steps[:-1]):
    nxt = steps[i + 1]
    if s.startswith("g"):
        flow(f"c{s}", s, nxt, f"score{s[1:]} >= 3 && akkoord == true")
        skip = steps[min(i + 2, len(steps) - 1)]
        flows.append(f'<bpmn:sequenceFlow id="d{s}" sourceRef="{s}" targetRef="{skip}" />')
    else:
        flow(i, s, nxt)
print(f'''<?xml version="1.0" encoding="UTF-8"?>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL" xmlns:bpmndi="http://www.omg.org/spec/BPMN/20100524/DI" xmlns:dc="http://www.omg.org/spec/DD/20100524/DC" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" xmlns:camunda="http://camunda.org/schema/1.0/bpmn" id="D500" targetNamespace="http://bpmn.io/schema/bpmn">
<bpmn:process id="lang_traject" name="Lang traject" isExecutable="true">
{chr(10).join(nodes)}
{chr(10).join(flows)}
</bpmn:process>
<bpmndi:BPMNDiagram id="Dia"><bpmndi:BPMNPlane id="Pl" bpmnElement="lang_traject">
{chr(10).join(shapes)}
</bpmndi:BPMNPlane></bpmndi:BPMNDiagram>
</bpmn:definitions>''')
